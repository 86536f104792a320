// The console in a real browser: Playwright (playwright-core) drives
// Debian's Chromium through what an operator does on a bad night, from the
// console alone. TestTheConsoleInABrowser (console_browser_test.go) starts
// the worker, the Keycloak emulator and a control listener, then runs this
// script; it checks what the stores say afterwards.
//
// Environment: PLAYWRIGHT_MODULES (a node_modules holding playwright-core),
// CHROMIUM, CONSOLE (the worker's base URL), OPERATOR and VIEWER
// ("name:password"), USERS_FILE (the campaign's file), EXPECT (its rows,
// valid, duplicates, and the outcomes it ends with, as JSON), CONTROL (the test's control listener:
// POST /break rotates the client's secret in Keycloak, POST /fix puts it
// back), ARTIFACTS (where screenshots go).
"use strict";

const assert = require("node:assert/strict");
const path = require("node:path");
const { chromium } = require(path.join(process.env.PLAYWRIGHT_MODULES, "playwright-core"));

const base = process.env.CONSOLE;
const artifacts = process.env.ARTIFACTS;
const expect = JSON.parse(process.env.EXPECT);
const campaign = "breach-drill";
// Long enough for a busy CI machine; every wait ends as soon as its
// condition holds.
const patience = 60000;

function credentials(pair) {
  const i = pair.indexOf(":");
  return { username: pair.slice(0, i), password: pair.slice(i + 1) };
}

function step(what) {
  console.log(`[${new Date().toISOString()}] ${what}`);
}

async function control(what) {
  const res = await fetch(process.env.CONTROL + "/" + what, { method: "POST" });
  assert.equal(res.status, 200, `control ${what}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });
}

// text is what an element shows, or "" when there is none.
async function text(page, selector) {
  const el = page.locator(selector);
  return (await el.count()) ? (await el.first().innerText()).trim() : "";
}

// waitText waits until the element shows text matching re; the pages
// refresh themselves, so no reload is needed.
async function waitText(page, selector, re) {
  await page.waitForFunction(
    ([sel, src]) => {
      const el = document.querySelector(sel);
      return !!el && new RegExp(src).test(el.textContent);
    },
    [selector, re.source],
    { timeout: patience, polling: 250 },
  );
}

// finished is how many of the campaign's rows have an outcome, as its bar
// shows it.
async function finished(page) {
  return Number(await page.locator(`#campaign-${campaign} progress`).getAttribute("value"));
}

async function waitFinishedAbove(page, n) {
  await page.waitForFunction(
    ([sel, n]) => {
      const bar = document.querySelector(sel);
      return !!bar && Number(bar.getAttribute("value")) > n;
    },
    [`#campaign-${campaign} progress`, n],
    { timeout: patience, polling: 250 },
  );
  return finished(page);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const origin = new URL(base).host;
  const problems = [];
  async function open(who, javaScriptEnabled = true) {
    // A laptop's screen.
    const context = await browser.newContext({ httpCredentials: credentials(who), viewport: { width: 1280, height: 800 },
      javaScriptEnabled });
    const page = await context.newPage();
    page.setDefaultTimeout(patience);
    // Nothing may come from the internet, and no script may fail.
    page.on("request", (req) => {
      const u = new URL(req.url());
      if (u.protocol !== "data:" && u.host !== origin) problems.push(`request to another host: ${req.url()}`);
    });
    page.on("pageerror", (err) => problems.push(`script error on ${page.url()}: ${err.message}`));
    return { context, page };
  }

  try {
    const { page } = await open(process.env.OPERATOR);

    step("start a campaign from a file: the check comes first");
    await page.goto(base + "/console/campaigns/new");
    await page.setInputFiles('input[name="file"]', process.env.USERS_FILE);
    await page.selectOption('select[name="provider"]', "corp");
    await page.fill('input[name="name"]', campaign);
    await page.fill('input[name="rate"]', "4/s");
    await page.click('button:has-text("Check the file")');
    await page.locator("#scan").waitFor();
    assert.equal(await text(page, "#scan .rows"), String(expect.rows), "rows");
    assert.equal(await text(page, "#scan .valid"), String(expect.valid), "valid rows");
    assert.equal(await text(page, "#scan .duplicates"), String(expect.duplicates), "duplicates");
    assert.equal(await text(page, "#scan .invalid"), "0", "invalid rows");
    await shot(page, "1-campaign-checked");
    await page.click('button:has-text("Start the campaign")');
    await waitText(page, ".notice", /Started/);

    step("watch the bar move");
    const first = await waitFinishedAbove(page, 0);
    const moved = await waitFinishedAbove(page, first);
    assert.ok(moved > first, `the bar moved from ${first} to ${moved}`);
    await shot(page, "2-campaign-running");

    step("pause it");
    await page.click(`#campaign-${campaign} button.pause`);
    await waitText(page, ".notice", /Paused/);
    await waitText(page, `#campaign-${campaign} .status`, /^paused$/);
    // What was handed to the workers before the pause ends; then nothing
    // moves.
    await waitText(page, `#campaign-${campaign} dd.queued`, /^0$/);
    const paused = await finished(page);
    await page.reload();
    assert.equal(await finished(page), paused, "a paused campaign does not move");
    assert.ok(paused < expect.rows, "paused before its end");
    await shot(page, "3-campaign-paused");

    step("while it is paused the client's secret is rotated in Keycloak; resume it: the provider halts");
    await control("break");
    await page.click(`#campaign-${campaign} button.resume`);
    await waitText(page, ".notice", /Resumed/);
    await waitText(page, `#campaign-${campaign} .status`, /^running$/);
    await page.goto(base + "/console/");
    await waitText(page, "#provider-corp .state", /^halted$/);
    const hint = await text(page, "#provider-corp dd.hint");
    assert.match(hint, /secret/i, "the hint says what to fix");
    assert.match(await text(page, "#provider-corp dl.halt"), /credentials_rejected/);
    await shot(page, "4-provider-halted");

    step("a viewer, without JavaScript, sees the halt and cannot act");
    {
      const viewer = await open(process.env.VIEWER, false);
      await viewer.page.goto(base + "/console/");
      await viewer.page.locator("#provider-corp .state.halted").waitFor();
      assert.equal(await viewer.page.locator("form").count(), 0, "no action for a viewer");
      // Without JavaScript the page reloads itself.
      await viewer.page.waitForEvent("load");
      await viewer.context.close();
      // The operator's tab is in front again: a hidden tab does not refresh.
      await page.bringToFront();
    }

    step("the campaign waits, and nothing failed");
    await page.goto(base + "/console/campaigns");
    assert.equal(await text(page, `#campaign-${campaign} dd.failed`), "0");
    const halted = await finished(page);
    assert.ok(halted >= paused && halted < expect.rows, `halted at ${halted} of ${expect.rows}`);

    step("fix it, check it, resume it");
    await control("fix");
    await page.goto(base + "/console/");
    await page.click("#provider-corp button.check");
    await page.locator("text=corp is ready.").waitFor();
    await shot(page, "5-provider-checked");
    await page.goto(base + "/console/");
    assert.match(await text(page, "#provider-corp .last-check"), /by ops: OK/, "the check is kept, with who ran it");
    // The page refreshes itself in place, not by reloading: the check's
    // lines stay open, and the page is the same page.
    await page.click("#provider-corp details summary");
    await page.evaluate(() => { window.notReloaded = true; });
    const before = await page.locator("main").getAttribute("data-refreshed");
    await page.waitForFunction((b) => document.querySelector("main").getAttribute("data-refreshed") !== b, before,
      { timeout: patience, polling: 250 });
    assert.ok(await page.locator("#provider-corp details").evaluate((d) => d.open), "still open after a refresh");
    assert.equal(await page.evaluate(() => window.notReloaded), true, "refreshed in place, not reloaded");
    await page.click("#provider-corp button.resume");
    await waitText(page, ".notice", /Resumed corp/);
    await waitText(page, "#provider-corp .state", /^healthy$/);

    step("the campaign finishes");
    await page.goto(base + "/console/campaigns");
    await waitText(page, `#campaign-${campaign} .status`, /^completed$/);
    assert.equal(await text(page, `#campaign-${campaign} .percent`), "100 %");
    assert.equal(await text(page, `#campaign-${campaign} dd.failed`), "0");
    assert.equal(await text(page, `#campaign-${campaign} dd.skipped`), String(expect.skipped));
    assert.equal(await text(page, `#campaign-${campaign} dd.succeeded`), String(expect.succeeded));
    await shot(page, "6-campaign-completed");
    await page.click(`#campaign-${campaign} h2 a`);
    await page.locator("table.counts").waitFor();
    const rows = await page.locator("table.counts tbody tr").allInnerTexts();
    for (const want of [`succeeded\t\t${expect.succeeded}`, "skipped\tduplicate_row\t1", "skipped\tuser_disabled\t2", "skipped\tuser_not_found\t1"]) {
      assert.ok(rows.includes(want), `the campaign's rows by outcome and reason have ${JSON.stringify(want)}: ${JSON.stringify(rows)}`);
    }
    await shot(page, "6b-campaign-outcomes");

    step("the other pages");
    await page.goto(base + "/console/outcomes");
    await page.locator("main").waitFor();
    await shot(page, "7-outcomes");
    await page.goto(base + "/console/webhooks");
    await page.locator("main").waitFor();
    await shot(page, "8-webhooks");
    await page.goto(base + "/ui/");
    await page.locator("text=Queues").first().waitFor();
    await shot(page, "9-queues");
  } finally {
    await browser.close();
  }
  assert.deepEqual(problems, [], "no request left the console's host and no script failed");
  step("done");
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
