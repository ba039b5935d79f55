import { describe, expect, it } from 'vitest';
import { href, parseRoute } from '../src/router';
import { broadcastBody, broadcastErrors, type BroadcastForm } from '../src/views/broadcasts';

const ok: BroadcastForm = { displayName: ' 12月のセール ', segmentId: 'seg_1', url: 'https://hooks.example.jp/x', message: 'こんにちは', holdout: '' };

describe('broadcast form', () => {
  it.each([
    [{}, {}],
    [{ displayName: ' ' }, { displayName: 'required' }],
    [{ segmentId: '' }, { segmentId: 'required' }],
    [{ url: 'ftp://example.jp' }, { url: 'url' }],
    [{ url: '' }, { url: 'required' }],
    [{ message: '' }, { message: 'required' }],
    [{ holdout: '0' }, { holdout: 'holdout' }],
    [{ holdout: '91' }, { holdout: 'holdout' }],
    [{ holdout: 'x' }, { holdout: 'holdout' }],
    [{ holdout: '20' }, {}],
  ] as const)('%j → %j', (change, want) => {
    expect(broadcastErrors({ ...ok, ...change })).toEqual(want);
  });
  it('sends the campaign as the API names it', () => {
    expect(broadcastBody(ok)).toEqual({ displayName: '12月のセール', segmentId: 'seg_1', webhook: { url: 'https://hooks.example.jp/x' }, messageTemplate: 'こんにちは' });
    expect(broadcastBody({ ...ok, holdout: '20' }).holdout).toEqual({ percent: 20 });
  });
});

describe('routes', () => {
  it.each(['#/broadcasts', '#/broadcasts/new', '#/broadcasts/cmp_1', '#/rfm'])('%s round-trips', (h) => {
    expect(href(parseRoute(h))).toBe(h);
  });
});
