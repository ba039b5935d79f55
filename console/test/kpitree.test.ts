import { describe, expect, it } from 'vitest';
import { change, childrenOf, formulaRefs, isLeaf, parseOverrides, roots, unitFromApi } from '../src/kpitree';

const starter = [
  { id: 'sales', kind: 'KGI', kpi: 'revenue', formula: 'customers * spend_per_customer' },
  { id: 'customers', kind: 'KPI', formula: 'new_customers + returning_customers', parentId: 'sales' },
  { id: 'spend_per_customer', kind: 'KPI', formula: 'aov * purchase_frequency', parentId: 'sales' },
  { id: 'new_customers', kind: 'KPI', kpi: 'new_customers', parentId: 'customers' },
  { id: 'returning_customers', kind: 'KPI', kpi: 'returning_customers', parentId: 'customers' },
  { id: 'aov', kind: 'KPI', kpi: 'aov', parentId: 'spend_per_customer' },
  { id: 'purchase_frequency', kind: 'KPI', kpi: 'purchase_frequency', parentId: 'spend_per_customer' },
  { id: 'bring_back', kind: 'KSF', parentId: 'returning_customers' },
];

describe('kpi tree', () => {
  it('reads the node ids a formula names, each once, ignoring other names', () => {
    const ids = new Set(['a', 'b_2', 'c']);
    expect(formulaRefs('a * b_2 + a - max(c, 1) + zz', ids)).toEqual(['a', 'b_2', 'c']);
    expect(formulaRefs(undefined, ids)).toEqual([]);
  });
  it('nests the starter tree by formula and parent', () => {
    const k = childrenOf(starter);
    expect(k.get('sales')).toEqual(['customers', 'spend_per_customer']);
    expect(k.get('customers')).toEqual(['new_customers', 'returning_customers']);
    expect(k.get('returning_customers')).toEqual(['bring_back']);
    expect(roots(starter, 'sales')).toEqual(['sales']);
  });
  it('draws a shared or cyclic node once', () => {
    const nodes = [
      { id: 'a', formula: 'b + c' },
      { id: 'b', formula: 'c' },
      { id: 'c', parentId: 'a' },
      { id: 'x', parentId: 'y' },
      { id: 'y', parentId: 'x' },
    ];
    const k = childrenOf(nodes);
    const all = [...k.values()].flat();
    expect(all.filter((id) => id === 'c')).toHaveLength(1);
    expect(roots(nodes, 'a')[0]).toBe('a');
    // The x ↔ y cycle: each is placed once, neither under itself.
    expect(all.filter((id) => id === 'x' || id === 'y')).toHaveLength(2);
  });
  it('lets only formula-less KPI nodes be overridden', () => {
    expect(isLeaf({ kind: 'KPI' })).toBe(true);
    expect(isLeaf({ kind: 'KPI', formula: 'a*b' })).toBe(false);
    expect(isLeaf({ kind: 'KSF' })).toBe(false);
  });
  it('parses what-if inputs, reporting the bad ones by node', () => {
    expect(parseOverrides({ a: ' 1,200 ', b: '', c: '0.5', d: 'abc', e: 'Infinity' })).toEqual({
      overrides: { a: 1200, c: 0.5 }, invalid: ['d', 'e'],
    });
  });
  it('maps API units and changes', () => {
    expect(unitFromApi('currency')).toBe('yen');
    expect(unitFromApi('ratio')).toBe('ratio');
    expect(unitFromApi('score')).toBe('number');
    expect(change(110, 100)).toBeCloseTo(0.1);
    expect(change(90, -100)).toBeCloseTo(1.9);
    expect(change(1, 0)).toBeUndefined();
  });
});
