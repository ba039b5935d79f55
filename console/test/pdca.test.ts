import { describe, expect, it } from 'vitest';
import { advanceBody, columns, lines, markdownOf, nextState, planBody } from '../src/pdca';
import { arms, axis, liftPoint, verdict } from '../src/results';

// The shapes of issue 11's contract, as the metrics service answers them.
const results = {
  variants: [
    { name: 'B', exposed: '4000', converted: '520', conversionRate: 0.13, revenue: 1560000, revenuePerExposed: 390,
      lift: { absolute: 0.03, relative: 0.3, ciLow: 0.012, ciHigh: 0.048, pValue: 0.001, probabilityToBeatControl: 0.999, expectedLoss: 0.0001 } },
    { name: 'holdout', exposed: '1000', converted: '100', conversionRate: 0.1, revenue: 300000, revenuePerExposed: 300 },
    { name: 'A', exposed: '4000', converted: '440', conversionRate: 0.11, revenue: 1320000, revenuePerExposed: 330,
      lift: { absolute: 0.01, relative: 0.1, ciLow: -0.01, ciHigh: 0.03, pValue: 0.3, probabilityToBeatControl: 0.85, expectedLoss: 0.002 } },
  ],
  srm: { pValue: 0.5, warning: false },
};

describe('journey results', () => {
  it('puts the holdout first, counts as numbers, no lift on the control', () => {
    const a = arms(results);
    expect(a.map((x) => x.name)).toEqual(['holdout', 'A', 'B']);
    expect(a[0]).toMatchObject({ control: true, exposed: 1000, converted: 100, lift: undefined });
    expect(a[2].exposed).toBe(4000);
  });
  it('takes the control the answer names', () => {
    expect(arms({ control: 'B', variants: [{ name: 'A' }, { name: 'B' }] }).map((x) => [x.name, x.control])).toEqual([['B', true], ['A', false]]);
  });
  it('takes variant A as control without a holdout', () => {
    expect(arms({ variants: [{ name: 'B' }, { name: 'A' }] }).map((x) => [x.name, x.control])).toEqual([['A', true], ['B', false]]);
  });
  it('plots the estimate its interval belongs to', () => {
    expect(liftPoint(results.variants[0].lift)).toEqual({ value: 0.03, kind: 'absolute', low: 0.012, high: 0.048 });
    expect(liftPoint({ absolute: 0.5, relative: 0.2, ciLow: 0.1, ciHigh: 0.3 })?.kind).toBe('relative');
    expect(liftPoint({ absolute: 0.1 })).toBeUndefined();
    expect(verdict({ low: 0.012, high: 0.048 })).toBe('better');
    expect(verdict({ low: -0.01, high: 0.03 })).toBe('unclear');
    expect(verdict({ low: -0.05, high: -0.01 })).toBe('worse');
    expect(axis([{ low: -0.01, high: 0.048 }])).toBeCloseTo(0.0528);
    expect(axis([])).toBe(1);
  });
});

describe('PDCA board', () => {
  it('puts initiatives in columns by state', () => {
    const c = columns([{ title: 'a', state: 'PLAN' }, { title: 'b', state: 'CHECK' }, { title: 'c', state: 'PLAN' }, { title: 'd', state: '?' }]);
    expect(c.PLAN.map((i) => i.title)).toEqual(['a', 'c']);
    expect(c.CHECK.map((i) => i.title)).toEqual(['b']);
    expect(c.DO).toEqual([]);
    expect(Object.values(c).flat()).toHaveLength(3);
  });
  it('walks the states in order', () => {
    expect(['PLAN', 'DO', 'CHECK', 'ACT', 'CLOSED', undefined].map(nextState)).toEqual(['DO', 'CHECK', 'ACT', 'CLOSED', undefined, undefined]);
  });
  it('builds the contract bodies', () => {
    const f = { journeyIds: ['jrn_1'], keep: ' early send \n\n', problem: 'too long', try: 'shorter\nLINE', decision: 'ADOPT' };
    expect(advanceBody('PLAN', f)).toEqual({ journeyIds: ['jrn_1'] });
    expect(advanceBody('CHECK', f)).toEqual({ review: { keep: ['early send'], problem: ['too long'], try: ['shorter', 'LINE'] }, decision: 'ADOPT' });
    expect(advanceBody('DO', f)).toEqual({});
    expect(advanceBody('ACT', f)).toEqual({});
    expect(planBody({ title: ' F2 mail ', hypothesis: 'h', kpi: 'repeat_purchase_rate', segmentId: '', effectPoints: '3' }))
      .toEqual({ title: 'F2 mail', hypothesis: 'h', kpi: 'repeat_purchase_rate', expectedEffect: { absolute: 0.03 } });
    expect(lines('a\n b \n')).toEqual(['a', 'b']);
  });
  it('reads the Markdown summary raw or wrapped', () => {
    expect(markdownOf('# F2 mail\n- keep')).toBe('# F2 mail\n- keep');
    expect(markdownOf(JSON.stringify({ markdown: '# A' }))).toBe('# A');
    expect(markdownOf(JSON.stringify({ contentType: 'text/markdown', data: '# B' }))).toBe('# B');
  });
});
