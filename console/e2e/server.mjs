// Starts the built kizuna binary on free ports with a fresh data directory,
// and fills it with generated data through the public REST API.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * externalBackend makes a fresh PostgreSQL database (on the server of
 * postgresURL) and a unique bus prefix for one run, so runs never share
 * state; drop() removes the database.
 */
export function externalBackend(postgresURL, natsURL) {
  const name = `kizuna_e2e_${process.pid}_${Date.now()}`;
  const psql = (sql) => {
    const r = spawnSync('psql', [postgresURL, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr || r.error}`);
  };
  psql(`CREATE DATABASE ${name}`);
  const u = new URL(postgresURL);
  u.pathname = `/${name}`;
  return {
    env: { KIZUNA_DATABASE_URL: u.toString(), KIZUNA_NATS_URL: natsURL, KIZUNA_BUS_PREFIX: name.replaceAll('_', '') },
    drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

export async function startKizuna(bin, key, backendEnv = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'kizuna-e2e-'));
  const [http, ing, seg, met, cmp] = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
  const env = {
    ...process.env,
    KIZUNA_DATA_DIR: dataDir,
    KIZUNA_HTTP_ADDR: `127.0.0.1:${http}`,
    KIZUNA_INGESTION_ADDR: `127.0.0.1:${ing}`,
    KIZUNA_SEGMENTATION_ADDR: `127.0.0.1:${seg}`,
    KIZUNA_METRICS_ADDR: `127.0.0.1:${met}`,
    KIZUNA_CAMPAIGN_ADDR: `127.0.0.1:${cmp}`,
    KIZUNA_DEV_API_KEY: key,
  };
  // The backends are the run's choice, whatever the caller's shell says.
  delete env.KIZUNA_DATABASE_URL;
  delete env.KIZUNA_NATS_URL;
  delete env.KIZUNA_BUS_PREFIX;
  Object.assign(env, backendEnv);
  const proc = spawn(bin, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const base = `http://127.0.0.1:${http}`;
  const stop = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  for (let i = 0; i < 120; i++) {
    if (proc.exitCode !== null) break;
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return { base, stop, log: () => log };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`kizuna did not become ready:\n${log}`);
}

export function api(base, key) {
  return async (method, path, body) => {
    const r = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : {};
  };
}

const families = ['佐藤', '鈴木', '高橋', '田中', '伊藤', '渡辺', '山本', '中村', '小林', '加藤'];
const givens = ['花子', '太郎', '陽菜', '蓮', '結衣', '湊', '葵', '大翔', '凛', '悠真'];

/**
 * generate sends n customers with orders, a pair identity resolution
 * merges, and a pair only a duplicate scan finds. It returns what the test
 * looks for.
 */
export async function generate(call, n = 300) {
  const msgs = [];
  const now = Date.now();
  let id = 0;
  let orders = 0;
  // A seeded generator, so every run sends the same data: customers who
  // buy at their own rate and some who stop, as the CLV models expect.
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const day = 86400_000;
  for (let i = 0; i < n; i++) {
    const userId = `gen-${i}`;
    msgs.push({ type: 'identify', messageId: `m-${id++}`, userId, traits: {
      email: `user${i}@example.jp`, name: `${families[i % 10]}${givens[(i * 7) % 10]}`, plan: i % 3 ? 'free' : 'pro',
    } });
    const rate = 0.005 + rand() * 0.05; // purchases per day
    const lifetime = rand() < 0.4 ? rand() * 200 : 400; // days until the customer stops
    let t = 360 * rand(); // days ago of the first purchase
    const first = t;
    for (let k = 0; t > 0 && first - t < lifetime && k < 30; k++) {
      orders++;
      msgs.push({ type: 'track', messageId: `m-${id++}`, userId, event: 'Order Completed',
        timestamp: new Date(now - t * day).toISOString(),
        properties: { order_id: `O-${i}-${k}`, revenue: 1000 + Math.round(rand() * 20) * 500, currency: 'JPY' } });
      t -= -Math.log(1 - rand()) / rate;
    }
  }
  // Identity resolution: an anonymous visitor who later signs in as an
  // existing customer becomes one customer (a merge the test undoes).
  msgs.push({ type: 'identify', messageId: `m-${id++}`, userId: 'merge-user', traits: { email: 'merge@example.jp', name: '合併花子' } });
  msgs.push({ type: 'page', messageId: `m-${id++}`, anonymousId: 'merge-anon', name: 'Pricing' });
  msgs.push({ type: 'identify', messageId: `m-${id++}`, anonymousId: 'merge-anon', traits: { phone: '090-1111-2222' } });
  msgs.push({ type: 'identify', messageId: `m-${id++}`, userId: 'merge-user', anonymousId: 'merge-anon' });
  // A duplicate pair: same name, same company spelt two ways, nothing shared.
  msgs.push({ type: 'identify', messageId: `m-${id++}`, anonymousId: 'dup-a', traits: { name: '重複 一郎', company: '株式会社キズナ商事' } });
  msgs.push({ type: 'identify', messageId: `m-${id++}`, anonymousId: 'dup-b', traits: { name: '重複一郎', company: 'キズナ商事' } });
  for (let i = 0; i < msgs.length; i += 200) {
    await call('POST', '/v1/batch', { batch: msgs.slice(i, i + 200) });
  }
  const channel = await call('POST', '/v1/channels', {
    displayName: 'Test webhook', webhook: { url: 'http://127.0.0.1:9/hook' },
  });
  const segment = await call('POST', '/v1/segments', {
    displayName: 'プロプラン', description: 'plan = pro', rule: { all: [{ trait: { key: 'plan', equals: 'pro' } }] },
  });
  return { channelId: channel.channel.channelId, orders, segmentId: segment.segment.segmentId, proCustomers: Math.ceil(n / 3) };
}

/**
 * startReceiver is a webhook endpoint on 127.0.0.1 answering 200 to every
 * POST, so the journeys and broadcasts of the test really send; received()
 * counts the calls.
 */
export async function startReceiver() {
  const { createServer: createHTTP } = await import('node:http');
  let n = 0;
  const srv = createHTTP((req, res) => {
    req.resume();
    req.on('end', () => {
      n++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${srv.address().port}/hook`,
    received: () => n,
    stop: () => new Promise((r) => srv.close(r)),
  };
}
