import { describe, expect, it } from 'vitest';
import { blank, count, nextDay, splitList, toRule, validate, zoneOffset, type Node } from '../src/segment/rule';

describe('segment rule', () => {
  it('turns a nested tree into the rule language', () => {
    const n: Node = {
      kind: 'all',
      children: [
        {
          kind: 'event', event: ' Order Completed ', did: true, minCount: '2', withinDays: '90', from: '', to: '',
          where: [{ property: 'category', op: 'IN', value: 'shoes, bags、hats' }],
          aggregate: { fn: 'SUM', property: 'revenue', op: 'GTE', value: '10000' },
        },
        { kind: 'any', children: [
          { kind: 'trait', key: 'plan', op: 'EQUALS', value: 'pro' },
          { kind: 'lifecycle', stages: ['LIFECYCLE_STAGE_LOYAL'] },
        ] },
        { kind: 'not', child: { kind: 'segment', segmentId: 'seg_1' } },
        { kind: 'rfm', recency: { min: '4', max: '' }, frequency: { min: '', max: '' }, monetary: { min: '2', max: '5' } },
        { kind: 'predicted', trait: 'probability_alive', op: 'BETWEEN', value: '0.2, 0.6' },
        { kind: 'trait', key: 'email', op: 'EXISTS', value: 'ignored' },
      ],
    };
    expect(validate(n)).toEqual([]);
    expect(toRule(n)).toEqual({
      all: [
        { event: { event: 'Order Completed', minCount: 2, withinDays: 90,
          where: [{ property: 'category', op: 'IN', values: ['shoes', 'bags', 'hats'] }],
          aggregate: { fn: 'SUM', property: 'revenue', op: 'GTE', value: '10000' } } },
        { any: [{ trait: { key: 'plan', op: 'EQUALS', value: 'pro' } }, { lifecycle: { stages: ['LIFECYCLE_STAGE_LOYAL'] } }] },
        { not: { segment: { segmentId: 'seg_1' } } },
        { rfm: { recency: { min: 4 }, monetary: { min: 2, max: 5 } } },
        { predicted: { trait: 'probability_alive', op: 'BETWEEN', values: ['0.2', '0.6'] } },
        { trait: { key: 'email', op: 'EXISTS' } },
      ],
    });
    expect(count(n)).toBe(10);
  });

  it('writes "did not" as maxCount 0 and a date range in the zone, end day included', () => {
    const e: Node = { ...(blank('event') as Extract<Node, { kind: 'event' }>), event: 'Cart Viewed', did: false, from: '2026-11-01', to: '2026-11-30' };
    expect(toRule(e, '+09:00')).toEqual({
      event: { event: 'Cart Viewed', maxCount: 0,
        between: { startTime: '2026-11-01T00:00:00+09:00', endTime: '2026-12-01T00:00:00+09:00' } },
    });
    expect(nextDay('2028-02-28')).toBe('2028-02-29');
  });

  it('finds what the server would refuse, by field', () => {
    const n: Node = {
      kind: 'any',
      children: [
        { kind: 'all', children: [] },
        { kind: 'trait', key: '', op: 'GT', value: 'abc' },
        { kind: 'event', event: 'x', did: true, minCount: '0', withinDays: '5000', from: '2026-02-01', to: '2026-01-01', where: [{ property: '', op: 'BETWEEN', value: '1' }] },
        { kind: 'rfm', recency: { min: '6', max: '' }, frequency: { min: '4', max: '2' }, monetary: { min: '', max: '' } },
        { kind: 'rfm', recency: { min: '', max: '' }, frequency: { min: '', max: '' }, monetary: { min: '', max: '' } },
        { kind: 'lifecycle', stages: [] },
        { kind: 'segment', segmentId: '' },
        { kind: 'predicted', trait: 'predicted_clv_12m', op: 'GT', value: '' },
      ],
    };
    expect(validate(n).map((p) => `${p.path}:${p.code}`)).toEqual([
      'rule.0:emptyGroup',
      'rule.1.key:required', 'rule.1.value:number',
      'rule.2.minCount:count',
      'rule.2.withinDays:withinDays', 'rule.2.withinDays:windowTwice', 'rule.2.to:dateOrder',
      'rule.2.where.0.property:required', 'rule.2.where.0.value:between',
      'rule.3.recency.min:score', 'rule.3.frequency.max:scoreOrder',
      'rule.4:rfmEmpty', 'rule.5:stages', 'rule.6.segmentId:required', 'rule.7.value:required',
    ]);
  });

  it('refuses trees deeper than 8 levels', () => {
    let n: Node = { kind: 'trait', key: 'a', op: 'EXISTS', value: '' };
    for (let i = 0; i < 8; i++) n = { kind: 'not', child: n };
    expect(validate(n).map((p) => p.code)).toContain('depth');
  });

  it('reads lists and zone offsets', () => {
    expect(splitList(' a ,b，c、 ,')).toEqual(['a', 'b', 'c']);
    expect(zoneOffset('Asia/Tokyo', new Date('2026-12-05T00:00:00Z'))).toBe('+09:00');
    expect(zoneOffset('UTC', new Date('2026-12-05T00:00:00Z'))).toBe('+00:00');
    expect(zoneOffset('America/New_York', new Date('2026-07-01T00:00:00Z'))).toBe('-04:00');
  });
});
