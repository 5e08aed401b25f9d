"""The dashboard's one stylesheet, inlined into the page (no link, no font: the page fetches nothing).

Light colours in CSS variables; the timeline's SVG is styled here too (bars `bar
held|shared|auto|ended`, marks `checkin`, `help`, `conflict`, the `now` line; legend swatches
`sw ...`). Rules are packed several to a line: the page is mailed around.
"""

CSS = """
:root{--fg:#1d2330;--mute:#6b7385;--line:#e3e6ee;--bg:#f6f7fb;--card:#fff;--accent:#3558d4;--ok:#1f8a4c;
--warn:#b7791f;--bad:#c53030}*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg)}header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9cfdd}nav{padding:8px 28px;background:#283042}
nav a{color:#c9cfdd;margin-right:14px;text-decoration:none}main{padding:18px 28px;max-width:1400px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 18px;
margin-bottom:18px;overflow-x:auto}h2{margin:0 0 10px;font-size:17px}
h3{margin:14px 0 6px;font-size:14px;color:var(--mute)}
.count{font-size:12px;background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:0 7px;
color:var(--mute)}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--mute);font-weight:600}code{font-size:12px}
.empty{color:var(--mute);font-style:italic}.warn{color:var(--bad);font-weight:600}
.badge{display:inline-block;font-size:11px;padding:1px 7px;border-radius:9px;background:#e8ebf3;color:#394157}
.badge.stale,.badge.critical,.badge.urgent,.badge.rejected,.badge.dead,.badge.blocked{background:#fde2e2;
color:var(--bad)}
.badge.high,.badge.expired,.badge.proposed,.badge.open,.badge.impact-high{background:#fdf0d5;
color:var(--warn)}
.badge.active,.badge.live,.badge.approved,.badge.resolved,.badge.done,.badge.implemented{background:#dcf3e5;
color:var(--ok)}
.meter{display:inline-block;width:70px;height:8px;background:var(--line);border-radius:4px;
vertical-align:middle}.meter span{display:block;height:8px;background:var(--accent);border-radius:4px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:280px;flex:1}
.card h3{color:var(--fg)}dt{font-weight:600;color:var(--mute);font-size:12px}dd{margin:0 0 6px}
.stats{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}
.stat{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 16px}
.stat b{display:block;font-size:22px}.stat.alert b{color:var(--bad)}
svg.timeline{font-size:11px;max-width:100%;height:auto}svg text{fill:var(--fg)}svg text.tick{fill:var(--mute)}
svg text.agent{font-weight:600}svg line.tick{stroke:var(--line)}svg line.row{stroke:#f0f1f5}
svg line.now{stroke:var(--bad);stroke-width:1.5;stroke-dasharray:4 3}
rect.bar.held{fill:#2f5bd3}rect.bar.shared{fill:#13a085}rect.bar.auto{fill:#e07b18}rect.bar.ended{fill:#c3c8d3}
svg text.bar{fill:#fff;font-size:10px;pointer-events:none}svg text.bar.ended{fill:#394157}
svg line.checkin{stroke:#1d2330;stroke-width:2}svg path.help{fill:#8e3fbf}
svg path.conflict{fill:var(--bad);stroke:#fff;stroke-width:1}
.legend span{margin-right:16px;color:var(--fg);font-size:12px;white-space:nowrap}
.legend i{display:inline-block;width:18px;height:10px;border-radius:2px;margin-right:5px;
vertical-align:middle}
.sw.held{background:#2f5bd3}.sw.shared{background:#13a085}.sw.auto{background:#e07b18}.sw.ended{background:#c3c8d3}
.sw.checkin{width:3px!important;height:14px!important;background:#1d2330}
.sw.help{width:0!important;height:0!important;border-radius:0!important;border:6px solid transparent;
border-bottom:10px solid #8e3fbf;border-top:0}
.sw.conflict{width:10px!important;height:10px!important;background:var(--bad);transform:rotate(45deg)}
.sw.now{width:3px!important;height:14px!important;background:var(--bad)}
.tlview{display:none}.tlview.default{display:block}
.tlviews:has(.tlview:target) .tlview.default:not(:target){display:none}.tlviews .tlview:target{display:block}
.zoom a{margin-right:10px}.zoom,.range{margin:0 0 6px;font-size:12px;
color:var(--mute)}
td.id{white-space:nowrap}td.t{white-space:nowrap}.work{margin:1px 0}.work code{white-space:nowrap}
.work .words{color:var(--mute)}
pre{white-space:pre-wrap;font-size:11px;max-height:260px;overflow:auto;background:var(--bg);padding:6px}
footer{color:var(--mute);padding:0 28px 24px;font-size:12px}
"""
