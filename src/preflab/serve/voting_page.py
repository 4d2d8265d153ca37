"""The voting page as one self-contained HTML document (inline CSS and JavaScript, no build step, no CDN).

The page asks ``GET /arena/pair`` for a ballot (prompt, responses A and B, no model names), posts the vote to
``POST /arena/vote`` with the voting token as a bearer token, then shows which model was behind A and B,
reloads the leaderboard (``GET /arena/leaderboard``: rating, interval as a bar, rank, battles; also every
15 s, so other people's votes appear) and fetches the next pair. Every text from the server is set with ``textContent``, never parsed as HTML.

>>> VOTING_PAGE.startswith("<!doctype html>") and 'id="vote-A"' in VOTING_PAGE and "/arena/vote" in VOTING_PAGE
True
"""

__all__ = ["VOTING_PAGE"]

VOTING_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>preflab arena: vote</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 1.5rem; color: #222; }
  h1 { font-size: 1.4rem; margin: 0.2rem 0 0.8rem; }
  h2 { font-size: 1.1rem; margin: 1.4rem 0 0.5rem; }
  .bar { display: flex; gap: 0.6rem; align-items: center; flex-wrap: wrap; }
  #prompt { background: #f3f4f6; border-radius: 6px; padding: 0.7rem 0.9rem; white-space: pre-wrap; }
  .sides { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; margin-top: 0.8rem; }
  .side { border: 1px solid #d1d5db; border-radius: 6px; padding: 0.6rem 0.9rem; min-height: 5rem; }
  .side h3 { margin: 0 0 0.4rem; font-size: 1rem; color: #555; }
  .response { white-space: pre-wrap; }
  .votes { margin-top: 0.9rem; }
  button { font-size: 1rem; padding: 0.45rem 1.1rem; border-radius: 6px; border: 1px solid #888; background: #fff;
           cursor: pointer; }
  button:hover:not(:disabled) { background: #eef2ff; }
  button:disabled { opacity: 0.5; cursor: default; }
  #status { min-height: 1.3rem; margin-top: 0.6rem; }
  #status.error { color: #b91c1c; }
  #reveal { color: #065f46; min-height: 1.3rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #e5e7eb; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .ci { position: relative; height: 0.8rem; width: 240px; background: #f3f4f6; border-radius: 3px; }
  .ci .range { position: absolute; top: 0; height: 100%; background: #93c5fd; border-radius: 3px; }
  .ci .point { position: absolute; top: -2px; width: 2px; height: calc(100% + 4px); background: #1d4ed8; }
  .muted { color: #6b7280; font-size: 0.9rem; }
</style>
</head>
<body>
<h1>Which answer is better?</h1>
<div class="bar">
  <label for="token">Voting token</label>
  <input id="token" type="password" autocomplete="off" size="28" placeholder="token given by the organizer">
  <span class="muted">The models stay anonymous until you vote.</span>
</div>
<h2>Prompt</h2>
<div id="prompt">loading...</div>
<div class="sides">
  <div class="side"><h3>A</h3><div id="response-a" class="response"></div></div>
  <div class="side"><h3>B</h3><div id="response-b" class="response"></div></div>
</div>
<div class="bar votes">
  <button id="vote-A" data-vote="A">A is better</button>
  <button id="vote-B" data-vote="B">B is better</button>
  <button id="vote-tie" data-vote="tie">Tie</button>
  <button id="vote-bothbad" data-vote="bothbad">Both are bad</button>
</div>
<div id="status" role="status"></div>
<div id="reveal"></div>
<h2>Leaderboard <span class="muted">(<span id="battle-count">0</span> <span id="votes-word">votes</span>; <span id="method"></span>)</span></h2>
<table>
  <thead><tr><th>Rank</th><th>Model</th><th>Rating</th><th>Interval</th><th></th><th>Battles</th></tr></thead>
  <tbody id="leaderboard"></tbody>
</table>
<script>
"use strict";
let ballot = null;
const $ = (id) => document.getElementById(id);
const tokenBox = $("token");
tokenBox.value = sessionStorage.getItem("preflab-vote-token") || "";
tokenBox.addEventListener("change", () => sessionStorage.setItem("preflab-vote-token", tokenBox.value));

function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function buttons(enabled) {
  for (const b of document.querySelectorAll("button[data-vote]")) b.disabled = !enabled;
}

async function errorText(reply) {
  try { return (await reply.json()).error.message; } catch (e) { return reply.status + " " + reply.statusText; }
}

async function loadPair() {
  buttons(false);
  const reply = await fetch("/arena/pair");
  if (!reply.ok) { $("prompt").textContent = await errorText(reply); ballot = null; return; }
  ballot = await reply.json();
  $("prompt").textContent = ballot.prompt;
  $("response-a").textContent = ballot.responses.A;
  $("response-b").textContent = ballot.responses.B;
  buttons(true);
}

async function loadLeaderboard() {
  const reply = await fetch("/arena/leaderboard");
  if (!reply.ok) { status(await errorText(reply), true); return; }
  const board = await reply.json();
  $("battle-count").textContent = board.battles;
  $("votes-word").textContent = board.battles === 1 ? "vote" : "votes";
  $("method").textContent = board.method + ", " + Math.round(board.level * 100) + "% " + board.interval +
    " intervals" + (board.prior > 0 ? ", prior " + board.prior + " (too few votes for maximum likelihood)" : "");
  const rows = Object.entries(board.ratings);
  const lo = Math.min(...rows.map(([, r]) => r.lower)), hi = Math.max(...rows.map(([, r]) => r.upper));
  const span = Math.max(hi - lo, 1e-9);
  const pct = (x) => (100 * (x - lo) / span).toFixed(2) + "%";
  const body = $("leaderboard");
  body.replaceChildren();
  for (const [model, r] of rows) {
    const tr = document.createElement("tr");
    tr.dataset.model = model;
    const cells = [String(r.rank), model, r.rating.toFixed(1),
                   "[" + r.lower.toFixed(1) + ", " + r.upper.toFixed(1) + "]", null, String(r.battles)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (text === null) {
        const ci = document.createElement("div"); ci.className = "ci";
        const range = document.createElement("div"); range.className = "range";
        range.style.left = pct(r.lower); range.style.width = "calc(" + pct(r.upper) + " - " + pct(r.lower) + ")";
        const point = document.createElement("div"); point.className = "point"; point.style.left = pct(r.rating);
        ci.append(range, point); td.append(ci);
      } else {
        td.textContent = text;
        if (i === 0 || i === 2 || i === 5) td.className = "num";
        if (i === 1) td.className = "model";
      }
      tr.append(td);
    });
    body.append(tr);
  }
}

async function vote(choice) {
  if (!ballot) return;
  const token = tokenBox.value.trim();
  if (!token) { status("Enter the voting token first.", true); return; }
  sessionStorage.setItem("preflab-vote-token", token);
  buttons(false);
  const reply = await fetch("/arena/vote", {
    method: "POST",
    headers: {"Content-Type": "application/json", "Authorization": "Bearer " + token},
    body: JSON.stringify({id: ballot.id, vote: choice}),
  });
  if (!reply.ok) { status(await errorText(reply), true); buttons(true); return; }
  const result = await reply.json();
  const said = {A: "A is better", B: "B is better", tie: "a tie", bothbad: "both are bad"}[choice];
  status("Vote counted: " + said + ".", false);
  $("reveal").textContent = "The pair you voted on: A was " + result.shown.A + ", B was " + result.shown.B + ".";
  await loadLeaderboard();
  await loadPair();
}

for (const b of document.querySelectorAll("button[data-vote]")) {
  b.addEventListener("click", () => vote(b.dataset.vote));
}
loadLeaderboard();
loadPair();
setInterval(loadLeaderboard, 15000);   // other people's votes show up too
</script>
</body>
</html>
"""
