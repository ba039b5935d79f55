// The PDCA board (issue 11's /v1/initiatives): initiatives in columns by
// state, and the bodies of :advance for each step.

export const states = ['PLAN', 'DO', 'CHECK', 'ACT', 'CLOSED'] as const;
export type State = (typeof states)[number];
export const decisions = ['ADOPT', 'ITERATE', 'STOP'] as const;

export interface Initiative {
  initiativeId?: string; title?: string; hypothesis?: string; kpi?: string; segmentId?: string; state?: string;
  expectedEffect?: { absolute?: number; relative?: number }; baseline?: number;
  plan?: { sampleSizePerArm?: number | string; expectedDurationDays?: number; expectedIncrementalRevenue?: number };
  journeyIds?: string[];
  review?: { keep?: string[]; problem?: string[]; try?: string[] };
  decision?: string;
  check?: {
    journeyId?: string; variant?: string; control?: string; absoluteEffect?: number; ciLow?: number; ciHigh?: number;
    pValue?: number; expectedReached?: boolean; note?: string;
  };
}

/** columns groups initiatives by state, each column in the given order; unknown states go nowhere. */
export function columns(list: Initiative[]): Record<State, Initiative[]> {
  const out = Object.fromEntries(states.map((s) => [s, [] as Initiative[]])) as Record<State, Initiative[]>;
  for (const i of list) if ((states as readonly string[]).includes(i.state ?? '')) out[i.state as State].push(i);
  return out;
}

/** nextState is where :advance takes an initiative, undefined once closed. */
export function nextState(s: string | undefined): State | undefined {
  const i = states.indexOf(s as State);
  return i >= 0 && i < states.length - 1 ? states[i + 1] : undefined;
}

/** lines reads a KPT text area: one item a line, blanks dropped. */
export function lines(s: string): string[] {
  return s.split('\n').map((x) => x.trim()).filter(Boolean);
}

/**
 * advanceBody is the body of :advance from a state: the journeys carrying
 * the plan when it starts (PLAN → DO), the KPT review and decision once
 * checked (CHECK → ACT), nothing otherwise.
 */
export function advanceBody(from: string | undefined, f: { journeyIds: string[]; keep: string; problem: string; try: string; decision: string }): Record<string, unknown> {
  if (from === 'PLAN') return { journeyIds: f.journeyIds };
  if (from === 'CHECK') return { review: { keep: lines(f.keep), problem: lines(f.problem), try: lines(f.try) }, decision: f.decision };
  return {};
}

/** planBody is POST /v1/initiatives' body; the effect is typed in points (3 = +3 points) and sent as a ratio. */
export function planBody(f: { title: string; hypothesis: string; kpi: string; segmentId: string; effectPoints: string }): Record<string, unknown> {
  return {
    title: f.title.trim(), hypothesis: f.hypothesis.trim(), kpi: f.kpi,
    ...(f.segmentId && { segmentId: f.segmentId }),
    expectedEffect: { absolute: Number(f.effectPoints) / 100 },
  };
}

/** markdownOf is the Markdown of a summary answer: raw text, or JSON holding it. */
export function markdownOf(body: string): string {
  try {
    const v = JSON.parse(body) as unknown;
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of ['markdown', 'data', 'text']) if (typeof o[k] === 'string') return o[k] as string;
    }
  } catch {
    // Not JSON: the Markdown itself.
  }
  return body;
}
