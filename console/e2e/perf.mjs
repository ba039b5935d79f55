// Measures how long the console's views take with many customers:
//   node e2e/perf.mjs 20000
// Not part of CI (it takes minutes); figures go to docs/BENCHMARKS.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { api, generate, startKizuna } from './server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const n = Number(process.argv[2] ?? 20000);
const key = 'kz_e2e_perf_key';
const server = await startKizuna(resolve(process.env.KIZUNA_BIN ?? join(here, '../../bin/kizuna')), key);
const call = api(server.base, key);
const profile = mkdtempSync(join(tmpdir(), 'kizuna-perf-chromium-'));
let context;
try {
  let t = Date.now();
  const data = await generate(call, n);
  for (;;) {
    const r = await call('POST', '/v1/metrics:compute', { kpi: 'order_count' });
    if (Number(r.value) === data.orders) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(`generated ${n} customers, ${data.orders} orders in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${server.base}/console/`);
  await page.locator('#api-key').fill(key);
  await page.locator('button[type=submit]').click();
  const time = async (what, go, ready) => {
    const s = Date.now();
    await go();
    await ready();
    console.log(`${what}: ${Date.now() - s} ms`);
  };
  const t0 = Date.now();
  await page.locator('[data-kpi="customer_count"] .big[data-value]').waitFor({ timeout: 120000 });
  console.log(`KPI home, first card: ${Date.now() - t0} ms`);
  await page.locator('[data-kpi="historical_ltv"] .big[data-value]').waitFor({ timeout: 120000 });
  console.log(`KPI home, all 7 cards: ${Date.now() - t0} ms`);
  await page.locator('.chart [data-bar]').first().waitFor({ timeout: 120000 });
  console.log(`KPI home, 12-week trend too: ${Date.now() - t0} ms`);
  await time('segment list', () => page.goto(`${server.base}/console/#/segments`), () => page.locator('[data-segment]').first().waitFor());
  await time('segment members (first 50)', () => page.goto(`${server.base}/console/#/segments/${data.segmentId}`), () => page.locator('tbody tr').nth(49).waitFor());
  await time('customer 360', async () => {
    await page.goto(`${server.base}/console/#/customers`);
    await page.locator('#customer-q').fill(`user${n - 1}@example.jp`);
    await page.locator('form[role=search] button[type=submit]').click();
  }, () => page.locator('.timeline li').first().waitFor({ timeout: 60000 }));
  await time('duplicate scan', async () => {
    await page.goto(`${server.base}/console/#/duplicates`);
    await page.locator('section[aria-labelledby="sec-scan"] button').click();
  }, () => page.locator('[data-scan-state="DUPLICATE_SCAN_STATE_SUCCEEDED"]').waitFor({ timeout: 600000 }));
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  await server.stop();
}
