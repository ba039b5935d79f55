// End-to-end test of the console in real headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core, no browser download),
// against the built kizuna binary with generated data. Screenshots of each
// view go to e2e/screenshots/ (git-ignored) for a reviewer to look at.
//
//   node e2e/run.mjs            (KIZUNA_BIN, CHROMIUM override the paths)
//
// KIZUNA_E2E_BACKEND=external runs it on PostgreSQL and NATS JetStream
// (KIZUNA_TEST_POSTGRES_URL, KIZUNA_TEST_NATS_URL; a fresh database per
// run); the default is the embedded SQLite and NATS of `make run`.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { api, externalBackend, generate, startKizuna } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bin = resolve(process.env.KIZUNA_BIN ?? join(here, '../../bin/kizuna'));
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const backend = process.env.KIZUNA_E2E_BACKEND ?? 'embedded';
const shots = join(here, 'screenshots', backend);
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const key = 'kz_e2e_console_key';

mkdirSync(shots, { recursive: true });
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};
async function until(what, fn, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

let external;
if (backend === 'external') {
  const pg = process.env.KIZUNA_TEST_POSTGRES_URL;
  const nats = process.env.KIZUNA_TEST_NATS_URL;
  if (!pg || !nats) {
    console.error('KIZUNA_E2E_BACKEND=external needs KIZUNA_TEST_POSTGRES_URL and KIZUNA_TEST_NATS_URL');
    process.exit(2);
  }
  external = externalBackend(pg, nats);
} else if (backend !== 'embedded') {
  console.error(`KIZUNA_E2E_BACKEND=${backend}: want embedded or external`);
  process.exit(2);
}
console.log(`console e2e on the ${backend} backends`);
const server = await startKizuna(bin, key, external?.env).catch((e) => {
  external?.drop();
  throw e;
});
const call = api(server.base, key);
const workspaceId = async () => (await call('POST', '/v1/apiKeys:verify', { apiKey: key })).workspaceId;
const profile = mkdtempSync(join(tmpdir(), 'kizuna-e2e-chromium-'));
let context;
try {
  const data = await generate(call);
  // Ingestion resolves identities asynchronously: wait until the merge and
  // the orders are visible through the API before driving the browser.
  const merged = await until('the resolution merge', async () => {
    const c = (await call('GET', '/v1/customers:lookup?user_id=merge-user')).customer;
    const m = (await call('GET', `/v1/merges?customerId=${c.customerId}`)).merges ?? [];
    return m.length ? c : undefined;
  });
  // Metrics reads the event stream too: wait for every order.
  const revenue = await until('every order in the metrics', async () => {
    const r = await call('POST', '/v1/metrics:compute', { kpi: 'revenue' });
    return Number(r.orderCount) === data.orders ? r.value : undefined;
  }, 60000);

  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    locale: 'en-US',
    viewport: { width: 1280, height: 900 },
    // axe-core is injected as a script, which the console's CSP forbids.
    bypassCSP: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (d) => d.accept());
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  async function axe(view) {
    await page.addScriptTag({ path: axePath });
    const res = await page.evaluate(async () => {
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
    });
    const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    check(bad.length === 0, `axe: no serious violations on ${view}${bad.length ? ' ' + JSON.stringify(bad) : ''}`);
  }
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  // Sign in.
  await page.goto(`${server.base}/console/`);
  await page.getByLabel('API key').fill('not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  check(true, 'a wrong key is refused with a message');
  await shot('01-signin-error');
  await axe('sign-in');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // The default workspace is in Asia/Tokyo: the console turns Japanese.
  await page.getByRole('heading', { name: 'KPIホーム' }).waitFor();
  check(await page.waitForFunction(() => document.documentElement.lang === 'ja', null, { timeout: 5000 }).then(() => true, () => false), 'Japanese first for an Asia/Tokyo workspace');
  const shown = await page.locator('[data-kpi="revenue"] .big[data-value]').textContent({ timeout: 15000 });
  const expected = '¥' + new Intl.NumberFormat('ja-JP').format(Math.round(revenue));
  check(shown === expected, `KPI home revenue ${shown} equals /v1/metrics:compute ${expected}`);
  await page.locator('.chart [data-bar]').first().waitFor();
  check(await page.locator('.chart [data-bar]').count() === 12, 'the trend shows 12 weekly bars');
  // The KPI tree: the goal's value is the API's, and a what-if on a leaf
  // recomputes it as :whatIf does.
  const tree = (await call('GET', '/v1/kpiTrees')).kpiTrees[0];
  const evaluated = await call('GET', `/v1/kpiTrees/${tree.kpiTreeId}:evaluate`);
  const root = evaluated.nodes.find((n) => n.id === evaluated.rootId);
  const rootShown = await page.locator(`[data-node="${root.id}"] > .kpi-node-box [data-value]`).getAttribute('data-value', { timeout: 15000 });
  check(Number(rootShown) === root.value, `the KPI tree's goal ${rootShown} equals :evaluate ${root.value}`);
  const aov = evaluated.nodes.find((n) => n.id === 'aov');
  await page.getByLabel('平均注文単価 を次の値にしたら').fill(String(Math.round(aov.value * 1.1)));
  await page.getByRole('button', { name: 'シミュレーション' }).click();
  const simulated = await page.locator(`[data-node="${root.id}"] > .kpi-node-box [data-whatif]`).getAttribute('data-whatif', { timeout: 15000 });
  const whatIf = await call('POST', `/v1/kpiTrees/${tree.kpiTreeId}:whatIf`, { overrides: { aov: Math.round(aov.value * 1.1) } });
  const wRoot = whatIf.nodes.find((n) => n.id === whatIf.rootId);
  check(Math.abs(Number(simulated) - wRoot.value) < 1e-6 && wRoot.value !== root.value,
    `the what-if goal ${simulated} equals :whatIf ${wRoot.value} (measured ${root.value})`);
  await shot('02-kpi-home-ja');
  await axe('KPI home');
  // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
  // (After a reload: the session survives it, and focus starts at the top.)
  await page.reload();
  await page.locator('[data-kpi="revenue"] .big[data-value]').waitFor();
  await page.keyboard.press('Tab');
  const skip = await page.evaluate(() => document.activeElement?.textContent);
  await page.keyboard.press('Enter');
  const focused = await page.evaluate(() => document.activeElement?.id);
  check(skip === '本文へ移動' && focused === 'main', `keyboard: Tab reaches the skip link (${skip}), Enter focuses the content (${focused})`);

  // Segments: the list with sizes, then the members, a page at a time.
  await until('the segment filled', async () =>
    Number((await call('GET', `/v1/segments/${data.segmentId}`)).segment.size) === data.proCustomers, 30000);
  await page.getByRole('link', { name: 'セグメント' }).click();
  const size = await page.locator(`[data-segment="${data.segmentId}"] td.num`).textContent();
  check(size === String(data.proCustomers), `the segment list shows ${size} members, the API ${data.proCustomers}`);
  await page.getByRole('link', { name: 'プロプラン' }).click();
  await page.getByText(`${data.proCustomers} 人`).waitFor();
  await page.locator('table.members tbody tr').nth(49).waitFor();
  check(await page.locator('table.members tbody tr').count() === 50, 'members are paged 50 at a time');
  const firstRow = await page.locator('table.members tbody tr').first().textContent();
  await page.getByRole('button', { name: '次のページ' }).click();
  await page.getByRole('button', { name: '前のページ' }).waitFor();
  check(await until('the second page', async () => (await page.locator('table.members tbody tr').first().textContent()) !== firstRow).then(() => true, () => false) &&
    await page.locator('table.members tbody tr').count() === 50, 'the next page shows 50 other members');
  await shot('02b-segment-members');
  await axe('segment members');

  // Segment builder: a bad count is explained at its field; the live
  // preview equals /v1/segments:preview for the same rule; saving shows the
  // new segment with its size trend.
  await page.getByRole('link', { name: 'セグメント', exact: true }).click();
  await page.getByRole('link', { name: '新しいセグメント' }).click();
  await page.getByLabel('イベント名').fill('Order Completed');
  await page.getByLabel('回数（以上）').fill('x');
  await page.getByText('1 以上の整数を入力してください。').waitFor();
  check(await page.getByLabel('回数（以上）').getAttribute('aria-invalid') === 'true', 'the builder marks a bad count at its field');
  await page.getByLabel('回数（以上）').fill('3');
  const preview = async (rule) => String((await call('POST', '/v1/segments:preview', { rule })).size);
  const want1 = await preview({ all: [{ event: { event: 'Order Completed', minCount: 3 } }] });
  const got1 = await until('the preview of one condition', async () =>
    (await page.locator('[data-preview]').getAttribute('data-preview')) === want1 ? want1 : undefined).catch(() => undefined);
  check(got1 === want1, `the builder previews ${got1} customers for "3+ orders", the API ${want1}`);
  await page.getByLabel('条件の種類').selectOption('trait');
  await page.getByRole('button', { name: '条件を追加', exact: true }).click();
  await page.getByLabel('属性名（例: plan）').fill('plan');
  await page.getByLabel('値', { exact: true }).fill('pro');
  const want2 = await preview({ all: [{ event: { event: 'Order Completed', minCount: 3 } }, { trait: { key: 'plan', op: 'EQUALS', value: 'pro' } }] });
  const got2 = await until('the preview of two conditions', async () =>
    (await page.locator('[data-preview]').getAttribute('data-preview')) === want2 ? want2 : undefined).catch(() => undefined);
  check(got2 === want2 && want2 !== want1, `the preview follows the rule: ${got2} with plan = pro, the API ${want2}`);
  await shot('02c-segment-builder');
  await axe('segment builder');
  await page.getByLabel('名前', { exact: true }).fill('3 回以上購入したプロ');
  await page.getByRole('button', { name: 'セグメントを保存' }).click();
  await page.getByRole('heading', { name: '3 回以上購入したプロ' }).waitFor();
  await page.locator('#sec-size-trend ~ .chart, #sec-size-trend ~ figure').first().waitFor();
  const created = (await call('GET', '/v1/segments?pageSize=1000')).segments
    .find((x) => x.displayName === '3 回以上購入したプロ');
  check(created && JSON.stringify(created.rule).includes('"minCount":3'), `the segment is saved with its rule: ${JSON.stringify(created?.rule)}`);
  await shot('02d-segment-created');

  // Customer 360: find the merged customer by e-mail, undo the merge.
  await page.getByRole('link', { name: '顧客' }).click();
  await page.getByLabel('顧客を探す').fill('MERGE@example.jp');
  await page.getByRole('button', { name: '検索', exact: true }).click();
  await page.locator(`[data-customer="${merged.customerId}"]`).waitFor();
  check(true, 'customer found by e-mail in another spelling');
  await page.getByRole('heading', { name: 'タイムライン' }).waitFor();
  await shot('03-customer-360');
  await axe('customer 360');
  await page.getByRole('button', { name: '統合を取り消す' }).first().click();
  await page.getByText('取り消し済み').first().waitFor();
  const after = (await call('GET', `/v1/merges?customerId=${merged.customerId}`)).merges;
  check(after.every((m) => m.state === 'MERGE_STATE_UNDONE'), 'the merge is undone through the API');
  await shot('04-customer-merge-undone');
  // A buying customer's predicted CLV, on demand.
  await page.getByLabel('顧客を探す').fill('gen-7');
  await page.getByRole('button', { name: '検索', exact: true }).click();
  await page.getByRole('button', { name: 'CLV と継続確率を予測' }).click();
  const clv = await page.locator('[data-clv], .error').first().textContent({ timeout: 30000 });
  check(/継続している確率\s*\d+(\.\d)?%/.test(clv), `predicted CLV and P(alive) shown: ${clv}`);
  await shot('04b-customer-clv');
  // By name, in another spelling: the list equals /v1/customers:search.
  await page.getByLabel('顧客を探す').fill('佐藤 花子様');
  await page.getByRole('button', { name: '検索', exact: true }).click();
  await page.locator('table.name-results tbody tr').first().waitFor();
  const byName = (await call('GET', `/v1/customers:search?name=${encodeURIComponent('佐藤花子')}&pageSize=20`)).customers;
  const shownIds = await page.locator('table.name-results tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.result));
  check(byName.length > 0 && JSON.stringify(shownIds) === JSON.stringify(byName.map((c) => c.customerId)),
    `the name search lists the ${shownIds.length} customers /v1/customers:search finds (${byName.length})`);
  await shot('04c-customer-name-search');
  await page.locator('table.name-results tbody tr a').first().click();
  await page.locator(`[data-customer="${byName[0].customerId}"]`).waitFor();
  check(true, 'a name result opens the customer');

  // Duplicates: scan, accept the suggestion.
  await page.getByRole('link', { name: '重複の確認' }).click();
  await page.getByRole('button', { name: '重複スキャンを開始' }).click();
  await page.locator('[data-scan-state="DUPLICATE_SCAN_STATE_SUCCEEDED"]').waitFor({ timeout: 30000 });
  const suggestion = page.locator('[data-suggestion]').first();
  await suggestion.waitFor();
  await shot('05-duplicates');
  await axe('duplicates');
  const sugId = await suggestion.getAttribute('data-suggestion');
  await suggestion.getByRole('button', { name: '同一人物：統合する' }).click();
  await until('the accepted suggestion', async () => {
    const r = await call('GET', '/v1/mergeSuggestions?state=MERGE_SUGGESTION_STATE_ACCEPTED');
    return (r.suggestions ?? []).some((s) => s.suggestionId === sugId);
  });
  check(true, 'a duplicate suggestion is accepted');
  await shot('06-duplicates-accepted');

  // Journeys: a bad form is explained, then create and activate.
  await page.getByRole('link', { name: 'ジャーニー' }).click();
  await page.getByRole('link', { name: '新しいジャーニー' }).click();
  await page.getByRole('button', { name: 'メッセージ送信を追加' }).click();
  await page.getByRole('button', { name: '下書きを保存' }).click();
  check(await page.locator('[aria-invalid="true"]').count() >= 3, 'missing fields are marked before sending');
  await shot('07-journey-form-errors');
  await page.getByLabel('名前', { exact: true }).fill('購入後フォロー');
  await page.getByLabel('イベント名').fill('Order Completed');
  await page.getByLabel('チャネル').selectOption(data.channelId);
  await page.getByLabel('本文').fill('{{ customer.traits.name }} 様、ご購入ありがとうございます。');
  await page.getByRole('button', { name: '待機を追加', exact: true }).click();
  await page.getByRole('button', { name: '離脱条件を追加' }).click();
  await page.getByLabel('イベント名', { exact: true }).nth(1).fill('Order Refunded');
  await axe('journey editor');
  await page.getByRole('button', { name: '下書きを保存' }).click();
  await page.getByRole('button', { name: '開始する' }).click();
  await page.locator('[data-state="ACTIVE"]').waitFor();
  const journeys = (await call('GET', '/v1/journeys')).journeys;
  check(journeys.some((j) => j.displayName === '購入後フォロー' && j.state === 'ACTIVE' && j.steps.length === 2 &&
    j.exitRules?.[0]?.event?.event === 'Order Refunded'), 'the journey is created with its exit rule and active');
  // A purchase after activation enters the journey; the stats show it.
  await call('POST', '/v1/track', { messageId: 'after-activate', userId: 'gen-1', event: 'Order Completed',
    properties: { order_id: 'O-after', revenue: 3000, currency: 'JPY' } });
  const entered = await until('the entry in the stats', async () => {
    await page.getByRole('button', { name: '更新' }).click();
    const v = await page.locator('[data-stat="entered"]').textContent();
    return v === '1' ? v : undefined;
  }, 30000).catch(() => undefined);
  check(entered === '1', 'live stats count the customer who entered');
  // Results: until the metrics service serves them (issue 11), in words.
  const results = page.locator('section[aria-labelledby="sec-results"]');
  const resultsShown = await until('the results section', async () =>
    (await results.textContent()).includes('まだ結果はありません') || (await results.locator('tr[data-arm]').count()) > 0).catch(() => false);
  check(resultsShown, 'the journey shows its results or says there are none yet');
  await shot('08-journey-active');
  await axe('journey detail');

  // PDCA board.
  await page.getByRole('link', { name: 'PDCA ボード' }).click();
  await page.getByRole('heading', { name: 'PDCA ボード' }).waitFor();
  await shot('08b-pdca');
  await axe('PDCA board');

  // Settings.
  await page.getByRole('link', { name: '設定' }).click();
  await page.getByRole('heading', { name: '配信チャネル' }).waitFor();
  // Quiet hours and a cap, saved through the workspace's PATCH.
  await page.getByLabel('顧客の現地時刻のこの時間帯はマーケティング配信を保留する').check();
  await page.getByLabel('開始').fill('22:00');
  await page.getByLabel('メール').check();
  await page.getByRole('button', { name: '配信ルールを保存' }).click();
  await page.getByText('保存しました。').waitFor();
  const ws = (await call('GET', `/v1/workspaces/${await workspaceId()}`)).workspace;
  check(ws.quietHours?.start === '22:00' && ws.quietHours?.end === '09:00' && ws.frequencyCaps?.[0]?.channelType === 'EMAIL',
    `quiet hours and the e-mail cap are saved: ${JSON.stringify([ws.quietHours, ws.frequencyCaps])}`);
  await shot('09-settings');
  await axe('settings');
  // A bad input the server refuses is explained with its field.
  await page.getByRole('button', { name: 'チャネルを追加' }).click();
  await page.getByLabel('名前', { exact: true }).fill('壊れた Webhook');
  await page.getByLabel('種類').selectOption('webhook');
  await page.getByLabel('URL').fill('ftp://example.jp/hook');
  await page.getByRole('button', { name: '保存', exact: true }).click();
  const alert = await page.getByRole('alert').textContent();
  check(alert.includes('入力内容に誤りがあります') && alert.includes('channel.webhook.url'), `the server's refusal names the field: ${alert}`);
  await shot('10-settings-error');
  await page.getByRole('button', { name: 'キャンセル' }).click();

  // Switch language.
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Channels' }).waitFor();
  check(await page.waitForFunction(() => document.documentElement.lang === 'en', null, { timeout: 5000 }).then(() => true, () => false), 'English after switching');
  await page.getByRole('link', { name: 'KPI home' }).click();
  await page.locator('[data-kpi="revenue"] .big[data-value]').waitFor();
  await shot('11-kpi-home-en');

  // The key never travels in a URL.
  check(!requests.some((u) => u.includes(key)), 'the API key is in no request URL');
  check(consoleErrors.length === 0, `no page errors ${consoleErrors.join('; ')}`);
} catch (e) {
  failures.push(String(e?.stack ?? e));
  console.error(e);
  if (context) await context.pages()[0]?.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  if (failures.length) console.error(server.log().split('\n').slice(-30).join('\n'));
  await server.stop();
  external?.drop();
}
console.log(failures.length ? `\n${failures.length} failed (screenshots in ${shots})` : `\nall passed (screenshots in ${shots})`);
process.exit(failures.length ? 1 : 0);
