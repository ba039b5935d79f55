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
import { api, externalBackend, generate, startKizuna, startReceiver } from './server.mjs';

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
let receiver;
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
  const posts = [];
  page.on('request', (r) => r.method() === 'POST' && posts.push(new URL(r.url()).pathname));
  // Keys the test creates: none may show up in a URL or in the browser's storage.
  const secrets = [key];
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

  // Results: a journey with a 20 % holdout and a message A/B, sent to a
  // local webhook; every customer of arm B buys. The results view shows the
  // arms of /v1/journeys/{id}/results and B's lift on the chart.
  receiver = await startReceiver();
  const wsId = await workspaceId();
  await call('PATCH', `/v1/workspaces/${wsId}?updateMask=allowLoopbackUrls`, { allowLoopbackUrls: true });
  const hook = (await call('POST', '/v1/channels', { displayName: 'Local receiver', webhook: { url: receiver.url } })).channel.channelId;
  const abId = (await call('POST', '/v1/journeys', {
    displayName: 'クーポン A/B', entry: { event: { event: 'Coupon Viewed' } },
    holdout: { percent: 20 }, goal: { event: { event: 'Order Completed' }, attributionWindow: '604800s' },
    steps: [{ id: 'mail', send: { channelId: hook, variants: [
      { name: 'A', weight: 50, text: '{{ customer.traits.name }} 様、クーポンをどうぞ' },
      { name: 'B', weight: 50, text: '{{ customer.traits.name }} 様、本日限り 10% オフ' }] } }],
  })).journey.journeyId;
  await call('POST', `/v1/journeys/${abId}:activate`, {});
  const abN = 60;
  await call('POST', '/v1/batch', { batch: Array.from({ length: abN }, (_, i) =>
    ({ type: 'track', messageId: `cv-${i}`, userId: `gen-${i}`, event: 'Coupon Viewed' })) });
  const exposed = (r) => (r.variants ?? []).reduce((n, v) => n + Number(v.exposed ?? 0), 0);
  await until('every A/B customer exposed', async () => exposed(await call('GET', `/v1/journeys/${abId}/results`)) === abN, 90000);
  const arm = new Map(((await call('GET', `/v1/journeys/${abId}/sends?pageSize=1000`)).sends ?? []).map((x) => [x.customerId, x.variant]));
  const buys = [];
  for (let i = 0; i < abN; i++) {
    const c = (await call('GET', `/v1/customers:lookup?user_id=gen-${i}`)).customer;
    if (arm.get(c.customerId) === 'B') buys.push({ type: 'track', messageId: `ab-buy-${i}`, userId: `gen-${i}`, event: 'Order Completed',
      properties: { order_id: `AB-${i}`, revenue: 2000, currency: 'JPY' } });
  }
  await call('POST', '/v1/batch', { batch: buys });
  const abResults = await until("B's orders in the results", async () => {
    const r = await call('GET', `/v1/journeys/${abId}/results`);
    return Number(r.variants?.find((v) => v.name === 'B')?.converted) === buys.length ? r : undefined;
  }, 60000);
  await page.goto(`${server.base}/console/#/journeys/${abId}`);
  await page.locator('tr[data-arm="B"]').waitFor();
  const arms = await page.locator('tr[data-arm]').evaluateAll((rows) => rows.map((r) => [r.dataset.arm, r.children[1].textContent, r.children[2].textContent]));
  const wantArms = abResults.variants.map((v) => [v.name, String(v.exposed), String(v.converted)]);
  check(JSON.stringify(arms) === JSON.stringify(wantArms), `the results table shows the API's arms: ${JSON.stringify(arms)} (API ${JSON.stringify(wantArms)})`);
  const bLift = abResults.variants.find((v) => v.name === 'B').lift;
  const verdictShown = await page.locator('[data-lift="B"]').getAttribute('data-verdict');
  const verdictWant = bLift.ciLow > 0 ? 'better' : bLift.ciHigh < 0 ? 'worse' : 'unclear';
  check(verdictShown === verdictWant, `B's lift is on the chart with the API's interval: ${verdictShown} [${bLift.ciLow}, ${bLift.ciHigh}]`);
  await shot('08c-journey-results');
  await axe('journey results');

  // Broadcast: made, launched and measured in the console.
  await page.getByRole('link', { name: '一斉配信' }).click();
  await page.getByRole('link', { name: '新しい一斉配信' }).click();
  await page.getByRole('button', { name: '下書きを保存' }).click();
  check(await page.locator('[aria-invalid="true"]').count() >= 4, 'the broadcast form marks the missing fields');
  await page.getByLabel('名前', { exact: true }).fill('12月のプロ向けお知らせ');
  await page.getByLabel('セグメント').selectOption(data.segmentId);
  await page.getByLabel('Webhook URL').fill(receiver.url);
  await page.getByLabel('メッセージ').fill('{{ customer.traits.name }} 様、年末のお知らせです。');
  await page.getByLabel('ホールドアウト（%）').fill('20');
  await axe('broadcast editor');
  await page.getByRole('button', { name: '下書きを保存' }).click();
  await page.getByRole('button', { name: '配信を開始' }).click();
  await page.locator('[data-state="CAMPAIGN_STATE_SENDING"], [data-state="CAMPAIGN_STATE_COMPLETED"]').waitFor();
  const campaignId = decodeURIComponent(page.url().split('#/broadcasts/')[1]);
  const bcResults = await until('every member of the broadcast exposed', async () => {
    const r = await call('GET', `/v1/campaigns/${campaignId}/results`);
    return exposed(r) === data.proCustomers ? r : undefined;
  }, 90000);
  const bcWant = bcResults.variants.map((v) => [v.name, String(v.exposed)]);
  let bcArms;
  // The page may have drawn the results while the sends were going out:
  // refresh until it shows what the API now answers.
  await until("the broadcast's results on the page", async () => {
    await page.getByRole('button', { name: '更新' }).click();
    await page.locator('tr[data-arm="holdout"]').waitFor();
    bcArms = await page.locator('tr[data-arm]').evaluateAll((rows) => rows.map((r) => [r.dataset.arm, r.children[1].textContent]));
    return JSON.stringify(bcArms) === JSON.stringify(bcWant);
  }, 20000).catch(() => {});
  check(JSON.stringify(bcArms) === JSON.stringify(bcWant), `the broadcast's results show the API's arms: ${JSON.stringify(bcArms)} (API ${JSON.stringify(bcWant)})`);
  const sentShown = await page.locator('[data-count="sent"]').textContent();
  const campaign = (await call('GET', `/v1/campaigns/${campaignId}`)).campaign;
  check(sentShown === String(campaign.deliveryCounts?.sent ?? 0), `the broadcast shows ${sentShown} sent, the API ${campaign.deliveryCounts?.sent}`);
  await shot('08d-broadcast-results');
  await axe('broadcast detail');

  // PDCA board: plan an initiative, start it with the A/B journey, check it
  // against that journey's results, then record the KPT and the decision.
  await page.getByRole('link', { name: 'PDCA ボード' }).click();
  await page.getByRole('heading', { name: 'PDCA ボード' }).waitFor();
  await page.getByRole('button', { name: '新しい施策' }).click();
  await page.getByRole('button', { name: '計画を作成' }).click();
  check(await page.locator('form [aria-invalid="true"]').count() === 2, 'the plan form marks a missing title and effect');
  await page.getByLabel('タイトル').fill('クーポンで 2 回目購入');
  await page.getByLabel('仮説').fill('10% オフで 2 回目の購入が増える');
  await page.getByLabel('期待効果（ポイント。+3 ポイントなら 3）').fill('5');
  await page.getByRole('button', { name: '計画を作成' }).click();
  const card = page.locator('[data-column="PLAN"] [data-initiative]').first();
  await card.waitFor();
  const iniId = await card.getAttribute('data-initiative');
  const planned = (await call('GET', `/v1/initiatives/${iniId}`)).initiative;
  const sampleShown = await card.locator('[data-sample]').getAttribute('data-sample');
  check(planned.state === 'PLAN' && Number(sampleShown) === Number(planned.plan.sampleSizePerArm),
    `the plan shows the API's sample size per arm: ${sampleShown} (API ${planned.plan.sampleSizePerArm})`);
  await shot('08e-pdca-plan');
  await card.getByRole('button', { name: '実行（Do）へ進める' }).click();
  await card.getByLabel('クーポン A/B').check();
  await card.getByRole('button', { name: '進める', exact: true }).click();
  const doCard = page.locator(`[data-column="DO"] [data-initiative="${iniId}"]`);
  await doCard.waitFor();
  await doCard.getByRole('button', { name: '評価（Check）へ進める' }).click();
  await doCard.getByRole('button', { name: '進める', exact: true }).click();
  const checkCard = page.locator(`[data-column="CHECK"] [data-initiative="${iniId}"]`);
  await checkCard.waitFor();
  const checked = (await call('GET', `/v1/initiatives/${iniId}`)).initiative;
  const measuredShown = await checkCard.locator('[data-measured]').getAttribute('data-measured');
  check(checked.state === 'CHECK' && checked.journeyIds?.[0] === abId && checked.check?.variant === 'B' &&
    Number(measuredShown) === checked.check.absoluteEffect,
    `the check shows the measured effect of the A/B journey: ${measuredShown} (API ${JSON.stringify(checked.check)})`);
  const checkText = await checkCard.textContent();
  check(!/pdca\.|_UNSPECIFIED/.test(checkText), `the checked card shows no raw key or enum: ${checkText.slice(0, 80)}…`);
  await shot('08f-pdca-check');
  await checkCard.getByRole('button', { name: '改善（Act）へ進める' }).click();
  await checkCard.getByLabel('Keep（1 行に 1 つ）').fill('件名の訴求が明確');
  await checkCard.getByLabel('Try（1 行に 1 つ）').fill('20% オフも試す');
  await checkCard.getByLabel('判断').selectOption('ITERATE');
  await checkCard.getByRole('button', { name: '進める', exact: true }).click();
  const actCard = page.locator(`[data-column="ACT"] [data-initiative="${iniId}"]`);
  await actCard.waitFor();
  const acted = (await call('GET', `/v1/initiatives/${iniId}`)).initiative;
  check(acted.state === 'ACT' && acted.decision === 'ITERATE' && acted.review?.keep?.[0] === '件名の訴求が明確',
    `the KPT and decision are saved: ${JSON.stringify([acted.state, acted.decision, acted.review])}`);
  await actCard.getByRole('button', { name: '1 枚サマリー（Markdown）' }).click();
  const md = await actCard.locator('pre.summary').textContent();
  check(md.includes('# クーポンで 2 回目購入'), `the one-page summary is shown: ${md.slice(0, 60)}…`);
  await shot('08g-pdca-act');
  await axe('PDCA board');

  // RFM map: each named segment's count is the sum of its cells in
  // /v1/rfm:grid, and the areas cover the grid.
  await page.goto(`${server.base}/console/#/segments`);
  await page.getByRole('link', { name: '名前付き RFM セグメントのマップ' }).click();
  await page.locator('[data-rfm="rfm_champions"]').waitFor();
  const grid = await call('GET', '/v1/rfm:grid');
  const areas = await page.locator('[data-rfm]').evaluateAll((els) => els.map((e) => [e.dataset.rfm, Number(e.dataset.customers)]));
  const sumCells = (r0, r1, f0, f1) => grid.cells.filter((c) => c.recencyScore >= r0 && c.recencyScore <= r1 && c.frequencyScore >= f0 && c.frequencyScore <= f1)
    .reduce((n, c) => n + Number(c.customers), 0);
  const champions = areas.find(([id]) => id === 'rfm_champions')?.[1];
  check(areas.length === 11 && areas.reduce((n, [, v]) => n + v, 0) === Number(grid.customers) && champions === sumCells(5, 5, 4, 5),
    `the RFM map shows 11 segments covering the grid's ${grid.customers} customers (champions ${champions})`);
  await page.locator('[data-rfm="rfm_champions"] a').click();
  await page.getByRole('heading', { name: '優良顧客 (Champions)' }).waitFor();
  check(true, 'an RFM area opens its segment');
  await page.goBack();
  await page.locator('[data-rfm="rfm_champions"]').waitFor();
  await shot('08h-rfm-map');
  await axe('RFM map');

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
  const alert = await page.locator('section[aria-labelledby="sec-channels"]').getByRole('alert').textContent();
  check(alert.includes('入力内容に誤りがあります') && alert.includes('channel.webhook.url'), `the server's refusal names the field: ${alert}`);
  await shot('10-settings-error');
  await page.getByRole('button', { name: 'キャンセル' }).click();

  // API keys: the form refuses an incomplete key before calling; a secret
  // key with segments:read is shown once, listed, works for its scope only,
  // and is revoked after a confirmation; the key in use cannot revoke itself.
  await page.getByRole('heading', { name: 'API キー', exact: true }).waitFor();
  await page.getByRole('button', { name: 'API キーを作成' }).click();
  const postsBefore = posts.length;
  await page.getByRole('button', { name: 'キーを作成', exact: true }).click();
  await page.getByText('名前を入力してください。').waitFor();
  await page.getByText('権限を 1 つ以上選んでください。').waitFor();
  check(posts.length === postsBefore && await page.getByLabel('名前', { exact: true }).getAttribute('aria-invalid') === 'true',
    'the key form explains a missing name and scope without calling the API');
  await shot('09a-settings-api-key-form');
  await axe('the API key form');
  await page.getByLabel('名前', { exact: true }).fill('セグメント読み取り');
  await page.getByLabel('segments:read').check();
  await page.getByRole('button', { name: 'キーを作成', exact: true }).click();
  const shownKey = page.locator('[data-created-key]');
  await shownKey.waitFor();
  const newKey = await shownKey.inputValue();
  secrets.push(newKey);
  const warned = await page.getByText('二度と表示されません').count();
  const keys = (await call('GET', '/v1/apiKeys')).apiKeys;
  const made = keys.find((k) => k.displayName === 'セグメント読み取り');
  check(!!made && made.kind === 'API_KEY_KIND_SECRET' && JSON.stringify(made.scopes) === '["segments:read"]' &&
    newKey.startsWith(made.keyPrefix) && await shownKey.evaluate((el) => el.readOnly) && warned > 0,
    `the new secret key is shown once, read-only, with a warning, and saved with segments:read: ${JSON.stringify(made)}`);
  const row = page.locator(`[data-api-key="${made.apiKeyId}"]`);
  await row.waitFor();
  const rowText = await row.textContent();
  check(rowText.includes('シークレットキー') && rowText.includes('segments:read') && rowText.includes(made.keyPrefix) &&
    rowText.includes(new Intl.DateTimeFormat('ja-JP', { timeZone: 'Asia/Tokyo', dateStyle: 'long' }).format(new Date(made.createTime))) &&
    rowText.includes('有効'), `the list shows the new key in words: ${rowText}`);
  // The key does what its scope allows, and no more.
  const withNew = api(server.base, newKey);
  const segs = await withNew('GET', '/v1/segments').then(() => 'ok', (e) => e.message);
  const custs = await withNew('GET', '/v1/customers:search?name=x').then(() => 'ok', (e) => e.message);
  check(segs === 'ok' && / 403 /.test(custs), `the segments:read key reads segments (${segs}) and is refused customers (${custs.slice(0, 120)})`);
  await shot('09b-settings-api-key-created');
  await axe('settings with a new API key');
  await page.getByRole('button', { name: 'キーを保管しました' }).click();
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  check(await shownKey.count() === 0 && !(await page.content()).includes(newKey) && !stored.includes(newKey),
    'once dismissed, the new key is neither on the page nor in the browser storage');
  await row.getByRole('button', { name: 'キー セグメント読み取り を無効化' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await shot('09c-settings-api-key-revoke');
  await axe('the revoke dialog');
  await dialog.getByRole('button', { name: '無効化する' }).click();
  await page.locator(`[data-api-key="${made.apiKeyId}"][data-state="revoked"]`).waitFor();
  const revoked = (await call('GET', '/v1/apiKeys')).apiKeys.find((k) => k.apiKeyId === made.apiKeyId);
  const revokedText = await row.textContent();
  check(!!revoked.revokeTime && revokedText.includes('に無効化') && await row.getByRole('button').count() === 0,
    `the key is revoked, in the API (${revoked.revokeTime}) and in words: ${revokedText}`);
  // The key the console is signed in with cannot revoke itself: said in words.
  const own = keys.find((k) => !k.revokeTime && k.keyPrefix && key.startsWith(k.keyPrefix));
  await page.locator(`[data-api-key="${own.apiKeyId}"]`).getByRole('button').click();
  await dialog.getByRole('button', { name: '無効化する' }).click();
  const refusal = await dialog.getByRole('alert').textContent();
  check(refusal.includes('自分自身は無効化できません'), `revoking the key in use is refused in words: ${refusal}`);
  await dialog.getByRole('button', { name: 'キャンセル' }).click();
  await shot('09d-settings-api-keys');

  // Switch language.
  await page.getByRole('button', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Channels' }).waitFor();
  check(await page.waitForFunction(() => document.documentElement.lang === 'en', null, { timeout: 5000 }).then(() => true, () => false), 'English after switching');
  await page.getByRole('link', { name: 'KPI home' }).click();
  await page.locator('[data-kpi="revenue"] .big[data-value]').waitFor();
  await shot('11-kpi-home-en');

  // Every view in both languages: axe-core finds no serious violation.
  const views = ['home', 'segments', `segments/${data.segmentId}`, 'segments/new', 'rfm', 'customers', `customers/${merged.customerId}`,
    'duplicates', 'journeys', 'journeys/new', `journeys/${abId}`, 'broadcasts', 'broadcasts/new', `broadcasts/${campaignId}`, 'pdca', 'settings'];
  for (const lang of ['en', 'ja']) {
    await page.getByRole('button', { name: lang === 'en' ? 'English' : '日本語' }).click();
    for (const v of views) {
      await page.goto(`${server.base}/console/#/${v}`);
      await page.locator('main h1').first().waitFor();
      // Let the view's requests settle so axe sees the page as a user does.
      await page.waitForLoadState('networkidle').catch(() => {});
      await until(`${v} loaded`, async () => (await page.locator('main p.muted[aria-live]').count()) === 0, 15000).catch(() => {});
      await axe(`${v} (${lang})`);
    }
  }
  await shot('12-settings-ja');

  // Keys with fewer scopes. A write key is refused at sign-in, in words.
  const writeKey = (await call('POST', '/v1/apiKeys', { displayName: 'Web サイト', kind: 'API_KEY_KIND_WRITE' })).key;
  const readKey = (await call('POST', '/v1/apiKeys', { displayName: 'セグメントだけ', kind: 'API_KEY_KIND_SECRET', scopes: ['segments:read'] })).key;
  secrets.push(writeKey, readKey);
  await page.getByRole('button', { name: 'サインアウト' }).click();
  await page.getByLabel('API キー').fill(writeKey);
  await page.getByRole('button', { name: 'サインイン' }).click();
  const writeRefusal = await page.getByRole('alert').textContent();
  check(writeRefusal.includes('コンソールには使えません'), `a write key is refused at sign-in in words: ${writeRefusal}`);
  await shot('13-signin-write-key');
  // A key with segments:read only: segments open, customers say which permission is missing.
  await page.getByLabel('API キー').fill(readKey);
  await page.getByRole('button', { name: 'サインイン' }).click();
  await page.goto(`${server.base}/console/#/segments`);
  await page.locator(`[data-segment="${data.segmentId}"]`).waitFor();
  await page.goto(`${server.base}/console/#/customers/${merged.customerId}`);
  const denied = await page.locator('main .error[role="alert"]').last().textContent();
  check(denied.includes('権限「profiles:read」がありません'), `a missing scope is named in words: ${denied}`);
  await shot('14-permission-denied');
  await axe('a permission refusal');

  // The key never travels in a URL.
  check(!requests.some((u) => secrets.some((k) => u.includes(k))), 'no API key is in a request URL');
  check(consoleErrors.length === 0, `no page errors ${consoleErrors.join('; ')}`);
} catch (e) {
  failures.push(String(e?.stack ?? e));
  console.error(e);
  if (context) await context.pages()[0]?.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
} finally {
  await context?.close();
  await receiver?.stop();
  rmSync(profile, { recursive: true, force: true });
  if (failures.length) console.error(server.log().split('\n').slice(-30).join('\n'));
  await server.stop();
  external?.drop();
}
console.log(failures.length ? `\n${failures.length} failed (screenshots in ${shots})` : `\nall passed (screenshots in ${shots})`);
process.exit(failures.length ? 1 : 0);
