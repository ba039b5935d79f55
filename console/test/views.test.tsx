// The results and PDCA views rendered in jsdom against a fake client that
// answers with issue 11's contract shapes, so the views are checked before
// the metrics service serves them.
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { describe, expect, it } from 'vitest';
import { ApiError, type Client } from '../src/api/client';
import { Ctx } from '../src/app';
import { JourneyResults } from '../src/components/results';
import { I18nContext, makeI18n } from '../src/i18n/i18n';
import { Pdca } from '../src/views/pdca';

function fakeClient(answers: Record<string, unknown>, posts: Array<[string, unknown]> = []): Client {
  const answer = async (path: string) => {
    const key = path.split('?')[0];
    if (!(key in answers)) throw new ApiError(404, 5, 'not found', []);
    return answers[key];
  };
  return {
    get: async <T,>(path: string) => (await answer(path)) as T,
    text: async (path: string) => String(await answer(path)),
    post: async <T,>(path: string, body?: unknown) => {
      posts.push([path, body]);
      return {} as T;
    },
    patch: async <T,>() => ({}) as T,
    del: async <T,>() => ({}) as T,
  };
}

async function mount(api: Client, node: preact.ComponentChildren): Promise<HTMLElement> {
  const el = document.createElement('div');
  document.body.append(el);
  await act(async () => {
    render(
      <I18nContext.Provider value={makeI18n('en', 'Asia/Tokyo')}>
        <Ctx.Provider value={{ api, workspace: { timezone: 'Asia/Tokyo' }, setWorkspace: () => {} }}>{node}</Ctx.Provider>
      </I18nContext.Provider>,
      el,
    );
  });
  // Let the fetches resolve and the views render their data.
  for (let i = 0; i < 5; i++) await act(async () => { await new Promise((r) => setTimeout(r, 0)); });
  return el;
}

describe('journey results view', () => {
  it('shows every arm and charts each lift with its interval', async () => {
    const el = await mount(fakeClient({
      '/v1/journeys/jrn_1/results': {
        variants: [
          { name: 'holdout', exposed: '1000', converted: '100', conversionRate: 0.1, revenue: 300000, revenuePerExposed: 300 },
          { name: 'A', exposed: '4000', converted: '520', conversionRate: 0.13, revenue: 1560000, revenuePerExposed: 390,
            lift: { absolute: 0.03, relative: 0.3, ciLow: 0.012, ciHigh: 0.048, pValue: 0.001, probabilityToBeatControl: 0.999, expectedLoss: 0.0001 } },
          { name: 'B', exposed: '4000', converted: '400', conversionRate: 0.1, revenue: 1200000, revenuePerExposed: 300,
            lift: { absolute: 0, relative: 0, ciLow: -0.02, ciHigh: 0.02, pValue: 1, probabilityToBeatControl: 0.5, expectedLoss: 0.01 } },
        ],
        srm: { pValue: 0.0001, warning: true },
      },
    }), <JourneyResults journeyId="jrn_1" version={0} />);
    expect([...el.querySelectorAll('tr[data-arm]')].map((r) => r.getAttribute('data-arm'))).toEqual(['holdout', 'A', 'B']);
    expect(el.querySelector('tr[data-arm="A"]')!.textContent).toContain('+30%');
    expect(el.querySelector('[data-lift="A"]')!.getAttribute('data-verdict')).toBe('better');
    expect(el.querySelector('[data-lift="B"]')!.getAttribute('data-verdict')).toBe('unclear');
    expect(el.querySelector('[role="alert"]')!.textContent).toContain('Sample ratio mismatch');
  });
  it('says so in words when there are no results', async () => {
    const el = await mount(fakeClient({}), <JourneyResults journeyId="jrn_2" version={0} />);
    expect(el.textContent).toContain('No results yet');
    expect(el.querySelector('[role="alert"]')).toBeNull();
  });
});

describe('PDCA board', () => {
  it('puts initiatives in their columns with the computed plan, and moves a checked one on with its KPT', async () => {
    const posts: Array<[string, unknown]> = [];
    const api = fakeClient({
      '/v1/initiatives': { initiatives: [
        { initiativeId: 'ini_1', title: 'F2 mail', hypothesis: 'A mail 7 days after the first order brings a second', kpi: 'repeat_purchase_rate',
          state: 'PLAN', baseline: 0.2, expectedEffect: { absolute: 0.03 },
          plan: { sampleSizePerArm: '2941', expectedDurationDays: 12.5, expectedIncrementalRevenue: 450000 } },
        { initiativeId: 'ini_2', title: 'Win-back', kpi: 'retention_rate', state: 'CHECK' },
      ] },
      '/v1/journeys': { journeys: [] },
      '/v1/kpis': { kpis: [] },
      '/v1/segments': { segments: [] },
      // format=markdown: the JSON summary with its markdown field (h1-results' GetInitiativeSummaryResponse).
      '/v1/initiatives/ini_1/summary': JSON.stringify({ initiative: {}, chart: [], markdown: '# F2 mail\n\n| | expected | measured |' }),
    }, posts);
    const el = await mount(api, <Pdca />);
    expect(el.querySelector('[data-column="PLAN"] [data-initiative="ini_1"]')).not.toBeNull();
    expect(el.querySelector('[data-column="CHECK"] [data-initiative="ini_2"]')).not.toBeNull();
    expect(el.querySelector('[data-initiative="ini_1"] [data-sample]')!.textContent).toBe('2,941');
    expect(el.querySelector('[data-initiative="ini_1"]')!.textContent).toContain('+3 points');

    const card = el.querySelector('[data-initiative="ini_2"]')!;
    await act(async () => (card.querySelector('button') as HTMLButtonElement).click());
    const areas = card.querySelectorAll('textarea');
    expect(areas).toHaveLength(3);
    await act(async () => {
      areas[0].value = 'timing\nsubject';
      areas[0].dispatchEvent(new Event('input', { bubbles: true }));
    });
    await act(async () => {
      (card.querySelector('form') as HTMLFormElement).dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    });
    expect(posts).toContainEqual(['/v1/initiatives/ini_2:advance',
      { review: { keep: ['timing', 'subject'], problem: [], try: [] }, decision: 'ADOPT' }]);

    const first = el.querySelector('[data-initiative="ini_1"]')!;
    const summary = [...first.querySelectorAll('button')].find((b) => b.textContent?.includes('summary'))!;
    await act(async () => summary.click());
    for (let i = 0; i < 3; i++) await act(async () => { await new Promise((r) => setTimeout(r, 0)); });
    expect(first.querySelector('pre.summary')!.textContent).toContain('# F2 mail');
  });
});
