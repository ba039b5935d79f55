import { useState } from 'preact/hooks';
import type { Journey, Kpi, Segment } from '../api/types';
import { ApiError } from '../api/client';
import { useApp } from '../app';
import { Empty, ErrorBox, FieldError, Loading, useAsync } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { advanceBody, columns, decisions, markdownOf, nextState, planBody, states, type Initiative } from '../pdca';

/**
 * Pdca is the board of initiatives (issue 11's /v1/initiatives): one
 * column per state, a card per initiative with its plan as Kizuna computed
 * it (sample size per arm, duration, expected revenue), the step to the
 * next state, and the one-page summary in Markdown for the weekly report.
 */
export function Pdca() {
  const t = useI18n();
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  const list = useAsync(() => api.get<{ initiatives?: Initiative[] }>('/v1/initiatives'), [version]);
  const [creating, setCreating] = useState(false);
  if (list.error instanceof ApiError && list.error.status === 404) {
    return (<><h1>{t.t('pdca.title')}</h1><Empty>{t.t('pdca.unavailable')}</Empty></>);
  }
  const cols = columns(list.data?.initiatives ?? []);
  return (
    <>
      <h1>{t.t('pdca.title')}</h1>
      <div class="toolbar">
        <button type="button" onClick={() => setCreating(!creating)}>{t.t('pdca.new')}</button>
      </div>
      {creating && <PlanForm onCreated={() => { setCreating(false); setVersion((v) => v + 1); }} />}
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : (
        <div class="board">
          {states.map((s) => (
            <section key={s} class="board-col" aria-labelledby={`col-${s}`} data-column={s}>
              <h2 id={`col-${s}`}>{t.t(`pdca.state.${s}` as MessageKey)} <span class="muted">({cols[s].length})</span></h2>
              {cols[s].map((i) => <Card key={i.initiativeId} i={i} onChanged={() => setVersion((v) => v + 1)} />)}
            </section>
          ))}
        </div>
      )}
    </>
  );
}

function Card({ i, onChanged }: { i: Initiative; onChanged: () => void }) {
  const t = useI18n();
  const { api } = useApp();
  const [open, setOpen] = useState(false);
  const [summary, setSummary] = useState<string>();
  const [error, setError] = useState<unknown>();
  const id = encodeURIComponent(i.initiativeId ?? '');
  const showSummary = async () => {
    setError(undefined);
    try {
      // Markdown for pasting into the weekly report: the body as it comes,
      // or its `markdown` field when the gateway wraps it in JSON.
      const body = await api.text(`/v1/initiatives/${id}/summary`, { format: 'markdown' });
      setSummary(markdownOf(body));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <article class="card pdca-card" data-initiative={i.initiativeId}>
      <h3>{i.title}</h3>
      <p class="small">{i.hypothesis}</p>
      <dl class="pairs small">
        <dt>{t.t('pdca.kpi')}</dt><dd>{t.tk(`kpi.${i.kpi}`, i.kpi ?? '')}</dd>
        {i.baseline !== undefined && (<><dt>{t.t('pdca.baseline')}</dt><dd>{t.number(i.baseline, 4)}</dd></>)}
        {i.expectedEffect?.absolute !== undefined && (<><dt>{t.t('pdca.effect')}</dt><dd>{t.t('pdca.points', { n: t.number(i.expectedEffect.absolute * 100, 2) })}</dd></>)}
        {i.plan?.sampleSizePerArm !== undefined && (<><dt>{t.t('pdca.sample')}</dt><dd data-sample={i.plan.sampleSizePerArm}>{t.number(i.plan.sampleSizePerArm, 0)}</dd></>)}
        {i.plan?.expectedDurationDays !== undefined && (<><dt>{t.t('pdca.duration')}</dt><dd>{t.t('pdca.days', { n: t.number(i.plan.expectedDurationDays, 1) })}</dd></>)}
        {i.plan?.expectedIncrementalRevenue !== undefined && (<><dt>{t.t('pdca.revenue')}</dt><dd>{t.yen(i.plan.expectedIncrementalRevenue)}</dd></>)}
        {i.check && (<>
          <dt>{t.t('pdca.measured')}</dt>
          <dd data-measured={i.check.absoluteEffect ?? ''}>
            {i.check.variant ? t.t('pdca.measuredText', {
              variant: i.check.variant, control: i.check.control === 'holdout' ? t.t('results.holdout') : i.check.control ?? '',
              n: t.number((i.check.absoluteEffect ?? 0) * 100, 2), low: t.number((i.check.ciLow ?? 0) * 100, 2), high: t.number((i.check.ciHigh ?? 0) * 100, 2),
            }) : '—'}
            {' '}<span class={i.check.expectedReached ? 'ok' : 'muted'} data-reached={String(!!i.check.expectedReached)}>
              {t.t(i.check.expectedReached ? 'pdca.reached' : 'pdca.notReached')}
            </span>
            {i.check.note && <span class="muted small"> {i.check.note}</span>}
          </dd>
        </>)}
        {i.decision && (decisions as readonly string[]).includes(i.decision) && (<><dt>{t.t('pdca.decision')}</dt><dd>{t.t(`pdca.decision.${i.decision}` as MessageKey)}</dd></>)}
      </dl>
      <div class="toolbar">
        {nextState(i.state) && <button type="button" class="secondary" onClick={() => setOpen(!open)}>{t.t('pdca.advanceTo', { state: t.t(`pdca.state.${nextState(i.state)}` as MessageKey) })}</button>}
        <button type="button" class="secondary" onClick={showSummary}>{t.t('pdca.summary')}</button>
      </div>
      <ErrorBox error={error} />
      {open && <Advance i={i} onDone={() => { setOpen(false); onChanged(); }} />}
      {summary !== undefined && <pre class="summary" tabIndex={0}>{summary}</pre>}
    </article>
  );
}

function Advance({ i, onDone }: { i: Initiative; onDone: () => void }) {
  const t = useI18n();
  const { api } = useApp();
  const journeys = useAsync(() => (i.state === 'PLAN' ? api.get<{ journeys?: Journey[] }>('/v1/journeys') : Promise.resolve({ journeys: [] })), [i.state]);
  const [f, setF] = useState({ journeyIds: [] as string[], keep: '', problem: '', try: '', decision: 'ADOPT' });
  const [error, setError] = useState<unknown>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      await api.post(`/v1/initiatives/${encodeURIComponent(i.initiativeId ?? '')}:advance`, advanceBody(i.state, f));
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={submit} class="advance">
      {i.state === 'PLAN' && (
        <fieldset>
          <legend>{t.t('pdca.journeys')}</legend>
          {(journeys.data?.journeys ?? []).map((j) => (
            <label key={j.journeyId} class="inline">
              <input type="checkbox" checked={f.journeyIds.includes(j.journeyId ?? '')}
                onChange={(e) => setF({ ...f, journeyIds: e.currentTarget.checked ? [...f.journeyIds, j.journeyId ?? ''] : f.journeyIds.filter((x) => x !== j.journeyId) })} />
              {' '}{j.displayName}
            </label>
          ))}
        </fieldset>
      )}
      {i.state === 'CHECK' && (
        <>
          {(['keep', 'problem', 'try'] as const).map((k) => (
            <label key={k} class="field">
              {t.t(`pdca.kpt.${k}` as MessageKey)}
              <textarea rows={3} value={f[k]} onInput={(e) => setF({ ...f, [k]: e.currentTarget.value })} />
            </label>
          ))}
          <label class="field">
            {t.t('pdca.decision')}
            <select value={f.decision} onChange={(e) => setF({ ...f, decision: e.currentTarget.value })}>
              {decisions.map((d) => <option key={d} value={d}>{t.t(`pdca.decision.${d}` as MessageKey)}</option>)}
            </select>
          </label>
        </>
      )}
      <ErrorBox error={error} />
      <button type="submit">{t.t('pdca.advance')}</button>
    </form>
  );
}

function PlanForm({ onCreated }: { onCreated: () => void }) {
  const t = useI18n();
  const { api } = useApp();
  const kpis = useAsync(() => api.get<{ kpis?: Kpi[] }>('/v1/kpis'), []);
  const segments = useAsync(() => api.get<{ segments?: Segment[] }>('/v1/segments', { pageSize: 1000 }), []);
  const [f, setF] = useState({ title: '', hypothesis: '', kpi: 'repeat_purchase_rate', segmentId: '', effectPoints: '' });
  const [shown, setShown] = useState(false);
  const [error, setError] = useState<unknown>();
  const bad = { title: !f.title.trim(), effect: !(Number(f.effectPoints) !== 0 && Number.isFinite(Number(f.effectPoints))) };
  const submit = async (e: Event) => {
    e.preventDefault();
    setShown(true);
    if (bad.title || bad.effect) return;
    setError(undefined);
    try {
      await api.post('/v1/initiatives', planBody(f));
      onCreated();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card" onSubmit={submit} noValidate>
      <h2>{t.t('pdca.new')}</h2>
      <label class="field">{t.t('pdca.titleField')}
        <input value={f.title} onInput={(e) => setF({ ...f, title: e.currentTarget.value })} aria-invalid={shown && bad.title ? 'true' : undefined} aria-describedby="err-pdca-title" />
        <FieldError id="err-pdca-title" message={shown && bad.title ? t.t('builder.err.required') : undefined} />
      </label>
      <label class="field">{t.t('pdca.hypothesis')}
        <textarea rows={2} value={f.hypothesis} onInput={(e) => setF({ ...f, hypothesis: e.currentTarget.value })} />
      </label>
      <label class="field">{t.t('pdca.kpi')}
        <select value={f.kpi} onChange={(e) => setF({ ...f, kpi: e.currentTarget.value })}>
          {(kpis.data?.kpis ?? [{ name: 'repeat_purchase_rate' }]).map((k) => <option key={k.name} value={k.name}>{t.tk(`kpi.${k.name}`, k.name ?? '')}</option>)}
        </select>
      </label>
      <label class="field">{t.t('home.segment')}
        <select value={f.segmentId} onChange={(e) => setF({ ...f, segmentId: e.currentTarget.value })}>
          <option value="">{t.t('home.allCustomers')}</option>
          {(segments.data?.segments ?? []).map((s) => <option key={s.segmentId} value={s.segmentId}>{s.displayName}</option>)}
        </select>
      </label>
      <label class="field">{t.t('pdca.effectField')}
        <input inputMode="decimal" value={f.effectPoints} onInput={(e) => setF({ ...f, effectPoints: e.currentTarget.value })}
          aria-invalid={shown && bad.effect ? 'true' : undefined} aria-describedby="err-pdca-effect" />
        <FieldError id="err-pdca-effect" message={shown && bad.effect ? t.t('builder.err.number') : undefined} />
      </label>
      <p class="muted small">{t.t('pdca.planHelp')}</p>
      <ErrorBox error={error} />
      <button type="submit">{t.t('pdca.create')}</button>
    </form>
  );
}

