"""The style sheet and script inlined in the HTML report (no fonts, libraries or network)."""

STYLE = """
:root { --ink: #1a1a1a; --muted: #5a5a5a; --rule: #d0d0d0; --flag: #a33; --ok: #276227; --band: #f4f4f1; }
body { font: 15px/1.45 Georgia, "Times New Roman", serif; color: var(--ink); margin: 0 auto;
       max-width: 72rem; padding: 1.2rem 1.6rem 4rem; }
h1 { font-size: 1.7rem; margin: 0.4rem 0 0.2rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid var(--ink); padding-bottom: 0.15rem; margin-top: 2.4rem; }
h3 { font-size: 1.1rem; margin: 1.6rem 0 0.4rem; }
p.lede, .muted, .note { color: var(--muted); }
.note { font-size: 0.9rem; margin: 0.2rem 0; }
nav { background: var(--band); padding: 0.5rem 0.8rem; font-size: 0.92rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { padding: 0.22rem 0.55rem; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--rule); }
th { border-bottom: 1.5px solid var(--ink); font-weight: bold; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.wide { width: 100%; }
table.summary { font-size: 0.82rem; }
.flag { color: var(--flag); font-weight: bold; }
.status-insufficient { font-weight: normal; font-size: 0.85em; border: 1px solid var(--rule);
  padding: 0 0.3em; }
ul.plan li { margin: 0.2rem 0; }
.nowrap { white-space: nowrap; }
.verdict-matches { color: var(--ok); }
.verdict-differs { color: var(--flag); font-weight: bold; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0.3rem 0; max-width: 100%; }
figure svg { max-width: 100%; height: auto; display: block; }
.fig-funnel svg, .fig-bubble svg { width: 430px; }
figcaption { max-width: 40rem;  font-size: 0.85rem; color: var(--muted); }
.subset { border-left: 3px solid var(--rule); padding-left: 0.9rem; margin-bottom: 1.4rem; }
.explorer-menus { background: var(--band); padding: 0.6rem 0.8rem; display: flex; gap: 1.5rem;
  flex-wrap: wrap; }
.explorer-menus label { font-weight: bold; }
.explorer-menus select { font: inherit; margin-left: 0.4rem; }
table.trials .mono, table.summary td:nth-child(3) { word-break: normal; white-space: nowrap; }
ul.sources { margin: 0; padding-left: 1rem; }
.mod-panel { padding-top: 0.4rem; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.82rem;
  word-break: break-all; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav, .explorer-menus, .screen-only { display: none !important; }
  .mod-panel[hidden] { display: block !important; }
  .mod-panel { break-inside: avoid-page; border-top: 1px solid var(--rule); }
  .mod-panel[data-kind="not analysed"] { border-top: none; padding-top: 0; }
  .mod-panel[data-kind="not analysed"] h3 { display: inline; font-size: 0.85rem; margin: 0; }
  .mod-panel[data-kind="not analysed"] p { display: inline; margin-left: 0.4rem; }
  figure, table, .subset h3 { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  a[href^="https://doi.org"]::after { content: " (" attr(href) ")"; font-size: 0.8em; }
}
"""

# Shows the moderator panel chosen in the two menus.  The URL hash "#explore=OUTCOME/MODERATOR"
# (slugs) chooses a panel on load, so that a link, or a headless browser, can open one.
SCRIPT = """
(function () {
  var outcome = document.getElementById('explore-outcome');
  var moderator = document.getElementById('explore-moderator');
  if (!outcome || !moderator) { return; }
  var panels = Array.prototype.slice.call(document.querySelectorAll('.mod-panel'));
  function show() {
    var wanted = 'mod-' + outcome.value + '--' + moderator.value;
    panels.forEach(function (panel) { panel.hidden = panel.id !== wanted; });
    document.body.setAttribute('data-explorer-shown', wanted);
  }
  function fromHash() {
    var match = /explore=([^\\/&]+)\\/([^&]+)/.exec(decodeURIComponent(location.hash));
    if (match) { outcome.value = match[1]; moderator.value = match[2]; }
    show();
  }
  outcome.addEventListener('change', show);
  moderator.addEventListener('change', show);
  window.addEventListener('hashchange', fromHash);
  fromHash();
})();
"""
