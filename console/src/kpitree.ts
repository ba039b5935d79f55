// The KPI tree as the console draws it: nodes of /v1/kpiTrees nested under
// their parents, with the values of :evaluate or :whatIf beside them.
import type { KpiUnit } from './kpi';

export interface TreeNode {
  id?: string;
  kind?: string;
  displayName?: string;
  description?: string;
  kpi?: string;
  formula?: string;
  parentId?: string;
  target?: { value?: number; dueTime?: string; owner?: string };
}

export interface NodeValue {
  id?: string;
  value?: number;
  previousValue?: number;
  measuredValue?: number;
  consistent?: boolean;
  targetProgress?: number;
  sensitivity?: number;
  overridden?: boolean;
  baselineValue?: number;
}

/** formulaRefs is the node ids a formula names, in order, each once. */
export function formulaRefs(formula: string | undefined, ids: Set<string>): string[] {
  const out: string[] = [];
  for (const m of (formula ?? '').matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) {
    if (ids.has(m[0]) && !out.includes(m[0])) out.push(m[0]);
  }
  return out;
}

/**
 * childrenOf maps each node id to its children: the ids its formula names
 * first (the tree's arithmetic), then the nodes whose parentId is it. A
 * node reached twice is drawn under its first parent only, so a cycle or a
 * shared leaf cannot draw the tree forever.
 */
export function childrenOf(nodes: TreeNode[]): Map<string, string[]> {
  const ids = new Set(nodes.map((n) => n.id ?? ''));
  const kids = new Map<string, string[]>();
  const placed = new Set<string>();
  const add = (parent: string, child: string) => {
    if (child === parent || placed.has(child)) return;
    placed.add(child);
    kids.set(parent, [...(kids.get(parent) ?? []), child]);
  };
  for (const n of nodes) for (const c of formulaRefs(n.formula, ids)) add(n.id ?? '', c);
  for (const n of nodes) if (n.parentId && ids.has(n.parentId)) add(n.parentId, n.id ?? '');
  return kids;
}

/** roots is the nodes no other node holds, the given root first. */
export function roots(nodes: TreeNode[], rootId?: string): string[] {
  const held = new Set([...childrenOf(nodes).values()].flat());
  const out = nodes.map((n) => n.id ?? '').filter((id) => !held.has(id));
  return rootId && out.includes(rootId) ? [rootId, ...out.filter((id) => id !== rootId)] : out;
}

/** isLeaf: a KPI node without a formula, the only kind :whatIf may override. */
export function isLeaf(n: TreeNode): boolean {
  return n.kind === 'KPI' && !n.formula;
}

/** unitFromApi maps /v1/kpis' unit to how the console shows it. */
export function unitFromApi(unit: string | undefined): KpiUnit {
  switch (unit) {
    case 'currency':
      return 'yen';
    case 'count':
      return 'count';
    case 'ratio':
      return 'ratio';
    default:
      return 'number';
  }
}

/**
 * parseOverrides turns the what-if inputs (node id → text typed) into the
 * overrides of :whatIf, leaving out the empty ones; a text that is not a
 * finite number is reported by node id instead of being sent.
 */
export function parseOverrides(inputs: Record<string, string>): { overrides: Record<string, number>; invalid: string[] } {
  const overrides: Record<string, number> = {};
  const invalid: string[] = [];
  for (const [id, raw] of Object.entries(inputs)) {
    const s = raw.trim().replace(/,/g, '');
    if (!s) continue;
    const v = Number(s);
    if (Number.isFinite(v)) overrides[id] = v;
    else invalid.push(id);
  }
  return { overrides, invalid };
}

/** change is value against base as a ratio (0.1 = +10 %), undefined without a base. */
export function change(value: number | undefined, base: number | undefined): number | undefined {
  if (value === undefined || base === undefined || base === 0) return undefined;
  return (value - base) / Math.abs(base);
}
