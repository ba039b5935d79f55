// The segment builder's model: an editable tree of conditions that turns
// into the rule language of /v1/segments (kizuna.segmentation.v1.Rule),
// with the checks the server makes done first so a marketer sees what is
// wrong next to the field before anything is sent.

export const operators = [
  'EQUALS', 'NOT_EQUALS', 'IN', 'NOT_IN', 'CONTAINS', 'NOT_CONTAINS', 'STARTS_WITH', 'EXISTS', 'NOT_EXISTS',
  'GT', 'GTE', 'LT', 'LTE', 'BETWEEN', 'BEFORE', 'AFTER', 'WITHIN_LAST_DAYS',
] as const;
export type Operator = (typeof operators)[number];
/** The operators an aggregate or a predicted trait takes (numbers only). */
export const numericOperators: Operator[] = ['GT', 'GTE', 'LT', 'LTE', 'EQUALS', 'NOT_EQUALS', 'BETWEEN'];
export const aggregations = ['SUM', 'AVG', 'MIN', 'MAX', 'COUNT'] as const;
export const lifecycleStages = ['PROSPECT', 'NEW', 'F2', 'LOYAL', 'DORMANT', 'CHURNED', 'RETURNED'].map((s) => `LIFECYCLE_STAGE_${s}`);
export const predictedTraits = ['probability_alive', 'expected_purchases_90d', 'predicted_clv_12m'] as const;

export interface Comparison { op: Operator; value: string }
export interface Filter extends Comparison { property: string }
export interface Range { min: string; max: string }

export type Node =
  | { kind: 'all' | 'any'; children: Node[] }
  | { kind: 'not'; child: Node }
  | ({ kind: 'trait'; key: string } & Comparison)
  | {
      kind: 'event'; event: string; did: boolean; minCount: string; withinDays: string; from: string; to: string;
      where: Filter[]; aggregate?: { fn: string; property: string } & Comparison;
    }
  | { kind: 'rfm'; recency: Range; frequency: Range; monetary: Range }
  | { kind: 'lifecycle'; stages: string[] }
  | ({ kind: 'predicted'; trait: string } & Comparison)
  | { kind: 'segment'; segmentId: string };

export type Kind = Node['kind'];
export const conditionKinds: Kind[] = ['event', 'trait', 'rfm', 'lifecycle', 'predicted', 'segment', 'all', 'any', 'not'];

/** blank is a new node of a kind, as the builder adds it. */
export function blank(kind: Kind): Node {
  const range = (): Range => ({ min: '', max: '' });
  switch (kind) {
    case 'all':
    case 'any':
      return { kind, children: [] };
    case 'not':
      return { kind, child: { kind: 'all', children: [blank('event')] } };
    case 'trait':
      return { kind, key: '', op: 'EQUALS', value: '' };
    case 'event':
      return { kind, event: '', did: true, minCount: '1', withinDays: '', from: '', to: '', where: [] };
    case 'rfm':
      return { kind, recency: range(), frequency: range(), monetary: range() };
    case 'lifecycle':
      return { kind, stages: [] };
    case 'predicted':
      return { kind, trait: 'probability_alive', op: 'GTE', value: '' };
    case 'segment':
      return { kind, segmentId: '' };
  }
}

/** The operands of a comparison as the API wants them. */
function operands(c: Comparison): { op: Operator; value?: string; values?: string[] } {
  switch (c.op) {
    case 'EXISTS':
    case 'NOT_EXISTS':
      return { op: c.op };
    case 'IN':
    case 'NOT_IN':
    case 'BETWEEN':
      return { op: c.op, values: splitList(c.value) };
    default:
      return { op: c.op, value: c.value.trim() };
  }
}

/** splitList reads "a, b、c" (ASCII or Japanese commas) as a list. */
export function splitList(s: string): string[] {
  return s.split(/[,、，]/).map((x) => x.trim()).filter(Boolean);
}

/** dayStart is a YYYY-MM-DD date input as the start of that day in the zone's offset. */
function dayStart(date: string, offset: string): string {
  return `${date}T00:00:00${offset}`;
}

/**
 * toRule is the JSON of a node for the API. Rule and Condition share their
 * field names, so the same JSON serves the root and any level below it.
 * offset ('+09:00') places the dates of `between` in the workspace's zone.
 */
export function toRule(n: Node, offset = 'Z'): Record<string, unknown> {
  switch (n.kind) {
    case 'all':
    case 'any':
      return { [n.kind]: n.children.map((c) => toRule(c, offset)) };
    case 'not':
      return { not: toRule(n.child, offset) };
    case 'trait':
      return { trait: { key: n.key.trim(), ...operands(n) } };
    case 'event': {
      const e: Record<string, unknown> = { event: n.event.trim() };
      if (n.did) {
        if (n.minCount.trim() && n.minCount.trim() !== '1') e.minCount = Number(n.minCount);
      } else e.maxCount = 0;
      if (n.withinDays.trim()) e.withinDays = Number(n.withinDays);
      if (n.from || n.to) {
        e.between = {
          ...(n.from && { startTime: dayStart(n.from, offset) }),
          // The end date is included: the window ends at the next day's start.
          ...(n.to && { endTime: dayStart(nextDay(n.to), offset) }),
        };
      }
      if (n.where.length) e.where = n.where.map((f) => ({ property: f.property.trim(), ...operands(f) }));
      if (n.aggregate) {
        const a = n.aggregate;
        e.aggregate = { fn: a.fn, ...(a.fn !== 'COUNT' && { property: a.property.trim() }), ...operands(a) };
      }
      return { event: e };
    }
    case 'rfm': {
      const r: Record<string, unknown> = {};
      for (const k of ['recency', 'frequency', 'monetary'] as const) {
        const { min, max } = n[k];
        if (min || max) r[k] = { ...(min && { min: Number(min) }), ...(max && { max: Number(max) }) };
      }
      return { rfm: r };
    }
    case 'lifecycle':
      return { lifecycle: { stages: n.stages } };
    case 'predicted':
      return { predicted: { trait: n.trait, ...operands(n) } };
    case 'segment':
      return { segment: { segmentId: n.segmentId } };
  }
}

/** nextDay is the calendar day after a YYYY-MM-DD date. */
export function nextDay(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** A problem found before sending: where (a path of child indexes and a field) and what. */
export interface Problem { path: string; code: string }

const isNum = (s: string) => s.trim() !== '' && Number.isFinite(Number(s));
const isInt = (s: string, lo: number, hi: number) => isNum(s) && Number.isInteger(Number(s)) && Number(s) >= lo && Number(s) <= hi;
const numericOps = new Set<Operator>(['GT', 'GTE', 'LT', 'LTE']);

function checkComparison(c: Comparison, path: string, out: Problem[]) {
  if (c.op === 'EXISTS' || c.op === 'NOT_EXISTS') return;
  if (c.op === 'BETWEEN') {
    const v = splitList(c.value);
    if (v.length !== 2 || !v.every(isNum)) out.push({ path: `${path}.value`, code: 'between' });
    return;
  }
  if (c.op === 'IN' || c.op === 'NOT_IN') {
    const n = splitList(c.value).length;
    if (n < 1 || n > 100) out.push({ path: `${path}.value`, code: 'list' });
    return;
  }
  if (!c.value.trim()) out.push({ path: `${path}.value`, code: 'required' });
  else if (numericOps.has(c.op) && !isNum(c.value)) out.push({ path: `${path}.value`, code: 'number' });
  else if (c.op === 'WITHIN_LAST_DAYS' && !isInt(c.value, 1, 36500)) out.push({ path: `${path}.value`, code: 'days' });
}

/**
 * validate lists what the server would refuse (empty groups, missing names,
 * operands that are not numbers, counts and windows out of range), each
 * with the path of the field in the builder. Depth and size limits are the
 * server's: at most 8 levels and 200 nodes.
 */
export function validate(n: Node, path = 'rule', depth = 1, out: Problem[] = []): Problem[] {
  if (depth > 8) {
    out.push({ path, code: 'depth' });
    return out;
  }
  switch (n.kind) {
    case 'all':
    case 'any':
      if (!n.children.length) out.push({ path, code: 'emptyGroup' });
      n.children.forEach((c, i) => validate(c, `${path}.${i}`, depth + 1, out));
      break;
    case 'not':
      validate(n.child, `${path}.0`, depth + 1, out);
      break;
    case 'trait':
      if (!n.key.trim()) out.push({ path: `${path}.key`, code: 'required' });
      checkComparison(n, path, out);
      break;
    case 'event':
      if (!n.event.trim()) out.push({ path: `${path}.event`, code: 'required' });
      if (n.did && !isInt(n.minCount, 1, 1_000_000)) out.push({ path: `${path}.minCount`, code: 'count' });
      if (n.withinDays.trim() && !isInt(n.withinDays, 1, 3650)) out.push({ path: `${path}.withinDays`, code: 'withinDays' });
      if (n.withinDays.trim() && (n.from || n.to)) out.push({ path: `${path}.withinDays`, code: 'windowTwice' });
      if (n.from && n.to && n.from > n.to) out.push({ path: `${path}.to`, code: 'dateOrder' });
      if (n.where.length > 20) out.push({ path: `${path}.where`, code: 'tooMany' });
      n.where.forEach((f, i) => {
        if (!f.property.trim()) out.push({ path: `${path}.where.${i}.property`, code: 'required' });
        checkComparison(f, `${path}.where.${i}`, out);
      });
      if (n.aggregate) {
        if (n.aggregate.fn !== 'COUNT' && !n.aggregate.property.trim()) out.push({ path: `${path}.aggregate.property`, code: 'required' });
        checkComparison(n.aggregate, `${path}.aggregate`, out);
        if (n.aggregate.op !== 'BETWEEN' && !isNum(n.aggregate.value)) out.push({ path: `${path}.aggregate.value`, code: 'number' });
      }
      break;
    case 'rfm': {
      let any = false;
      for (const k of ['recency', 'frequency', 'monetary'] as const) {
        const { min, max } = n[k];
        if (min || max) any = true;
        if (min && !isInt(min, 1, 5)) out.push({ path: `${path}.${k}.min`, code: 'score' });
        if (max && !isInt(max, 1, 5)) out.push({ path: `${path}.${k}.max`, code: 'score' });
        if (isInt(min, 1, 5) && isInt(max, 1, 5) && Number(min) > Number(max)) out.push({ path: `${path}.${k}.max`, code: 'scoreOrder' });
      }
      if (!any) out.push({ path, code: 'rfmEmpty' });
      break;
    }
    case 'lifecycle':
      if (!n.stages.length) out.push({ path, code: 'stages' });
      break;
    case 'predicted':
      checkComparison(n, path, out);
      if (n.op !== 'BETWEEN' && n.op !== 'EXISTS' && n.op !== 'NOT_EXISTS' && n.value.trim() && !isNum(n.value)) {
        out.push({ path: `${path}.value`, code: 'number' });
      }
      break;
    case 'segment':
      if (!n.segmentId) out.push({ path: `${path}.segmentId`, code: 'required' });
      break;
  }
  if (path === 'rule' && count(n) > 200) out.push({ path, code: 'size' });
  return out;
}

/** count is the number of nodes in the tree. */
export function count(n: Node): number {
  if (n.kind === 'all' || n.kind === 'any') return 1 + n.children.reduce((s, c) => s + count(c), 0);
  if (n.kind === 'not') return 1 + count(n.child);
  return 1;
}

/** zoneOffset is a time zone's UTC offset at a moment, as "+09:00". */
export function zoneOffset(timeZone: string, at: Date): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(at);
  const name = parts.find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-]\d{2}):?(\d{2})?/.exec(name);
  return m ? `${m[1]}:${m[2] ?? '00'}` : 'Z';
}
