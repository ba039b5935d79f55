import { describe, expect, it } from 'vitest';
import { formatKpi, kpiUnit, periodRange } from '../src/kpi';
import { makeI18n } from '../src/i18n/i18n';
import { detectLookup, lookupQuery } from '../src/lookup';
import { href, parseRoute } from '../src/router';
import { clearSession, loadSession, saveSession } from '../src/session';
import { reasonText } from '../src/views/duplicates';
import { channelBody } from '../src/views/settings';

describe('lookup', () => {
  it.each([
    ['hanako@example.jp', 'email'],
    ['０９０－１２３４－５６７８', 'phone'],
    ['+81 90 1234 5678', 'phone'],
    ['cus_01a24619-8e71-725f-8b6b-f83a267d511d', 'customerId'],
    ['hanako', 'userId'],
    ['12345', 'userId'],
    ['山田 花子', 'name'],
    ['ﾔﾏﾀﾞ', 'name'],
    ['John Smith', 'name'],
    ['ｈａｎａｋｏ＠example.jp', 'email'],
  ] as const)('%s is a %s', (q, want) => {
    expect(detectLookup(q)).toBe(want);
  });
  it('names the API parameter', () => {
    expect(lookupQuery('userId', ' taro ')).toEqual({ user_id: 'taro' });
    expect(lookupQuery('lineUserId', 'U1')).toEqual({ line_user_id: 'U1' });
  });
});

describe('routes', () => {
  it.each(['#/home', '#/segments', '#/segments/seg_1', '#/customers', '#/customers/cus_1', '#/duplicates', '#/journeys', '#/journeys/new', '#/journeys/jrn_1', '#/settings'])(
    '%s round-trips', (h) => {
      expect(href(parseRoute(h))).toBe(h);
    });
  it('opens home on an empty hash and not-found otherwise', () => {
    expect(parseRoute('')).toEqual({ view: 'home' });
    expect(parseRoute('#/nope')).toEqual({ view: 'notFound' });
  });
});

describe('session', () => {
  it('keeps the key in the given storage only and forgets it', () => {
    saveSession({ key: 'kz_1', workspaceId: 'ws_1' }, sessionStorage);
    expect(loadSession(sessionStorage)).toEqual({ key: 'kz_1', workspaceId: 'ws_1' });
    expect(localStorage.length).toBe(0);
    clearSession(sessionStorage);
    expect(loadSession(sessionStorage)).toBeNull();
  });
  it('ignores a damaged entry', () => {
    sessionStorage.setItem('kizuna.apiKey', '{not json');
    expect(loadSession(sessionStorage)).toBeNull();
  });
});

describe('kpis', () => {
  const t = makeI18n('ja');
  it('formats by unit, unknown KPIs as numbers', () => {
    expect(formatKpi(t, 'revenue', 3450000)).toBe('¥3,450,000');
    expect(formatKpi(t, 'repeat_purchase_rate', 0.5)).toBe('50%');
    expect(formatKpi(t, 'order_count', 600)).toBe('600');
    expect(kpiUnit('nps')).toBe('number');
  });
  it('ranges periods back from now', () => {
    const now = new Date('2026-12-05T00:00:00Z');
    expect(periodRange('all', now)).toEqual({});
    expect(periodRange('last7', now)).toEqual({ startTime: '2026-11-28T00:00:00.000Z', endTime: '2026-12-05T00:00:00.000Z' });
  });
});

describe('duplicate reasons', () => {
  it('translates field and verdict, keeping details', () => {
    const t = makeI18n('ja');
    expect(reasonText(t, 'email:exact')).toBe('メールアドレス: 一致');
    expect(reasonText(t, 'name:similar(0.93)')).toBe('氏名: 類似（0.93）');
    expect(reasonText(t, 'user_id: differ')).toBe('ユーザーID: 不一致');
    expect(reasonText(t, 'something odd')).toBe('something odd');
  });
});

describe('channel form', () => {
  it('leaves empty secrets out so the stored ones stay', () => {
    const base = {
      displayName: 'Mail', kind: 'email' as const, host: 'smtp.example.jp', port: '587', security: 'STARTTLS', username: 'u',
      password: '', fromAddress: 'a@example.jp', fromName: 'A', replyTo: '', channelAccessToken: '', channelSecret: '', apiBaseUrl: '',
      url: '', signingSecret: '',
    };
    expect(channelBody(base).email).not.toHaveProperty('password');
    expect(channelBody({ ...base, password: 'p' }).email?.password).toBe('p');
    expect(channelBody({ ...base, kind: 'webhook', url: 'https://x' })).toEqual({ displayName: 'Mail', webhook: { url: 'https://x' } });
  });
});

describe('limiter', () => {
  it('runs at most n tasks at once, in order', async () => {
    const { limiter } = await import('../src/limit');
    const limit = limiter(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (i: number) => async () => {
      started.push(i);
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (i === 2) throw new Error('two');
      return i;
    };
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => limit(task(i))));
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  });
});
