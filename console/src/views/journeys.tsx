import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import type { Channel, Journey, JourneyStats, Segment, Send } from '../api/types';
import { useApp } from '../app';
import { JourneyResults } from '../components/results';
import { Empty, ErrorBox, FieldError, Loading, Section, enumLabel, useAsync, usePaged } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import {
  emptyJourney, entryKinds, exitKinds, fromJourney, newExit, newStep, outline, reentries, serverField, stepKinds, toJourney, units,
  validate, weekdays, type ExitForm, type JourneyForm, type StepForm, type StepKind,
} from '../journey/form';
import { href, navigate } from '../router';
import { SendsTable } from './customers';

/** Journeys lists journeys, a page at a time. */
export function Journeys() {
  const t = useI18n();
  const { api } = useApp();
  const r = usePaged(
    (pageToken) => api.get<{ journeys?: Journey[]; nextPageToken?: string }>('/v1/journeys', { pageSize: 50, pageToken }),
    [],
  );
  const list = r.data?.journeys ?? [];
  return (
    <>
      <h1>{t.t('journeys.title')}</h1>
      <div class="toolbar"><a class="button" href={href({ view: 'journeyNew' })}>{t.t('journeys.new')}</a></div>
      <ErrorBox error={r.error} />
      {r.loading && !r.data ? <Loading /> : list.length === 0 ? <Empty>{t.t('journeys.none')}</Empty> : (
        <table>
          <thead><tr>
            <th scope="col">{t.t('journey.name')}</th><th scope="col">{t.t('journey.state')}</th>
            <th scope="col">{t.t('journey.entry')}</th><th scope="col">{t.t('journey.steps')}</th>
            <th scope="col">{t.t('journey.updated')}</th>
          </tr></thead>
          <tbody>
            {list.map((j) => (
              <tr key={j.journeyId} data-journey={j.journeyId}>
                <td><a href={href({ view: 'journey', journeyId: j.journeyId ?? '' })}>{j.displayName}</a></td>
                <td><span class={`badge ${j.state}`}>{enumLabel(t, 'journeyState', j.state)}</span></td>
                <td>{entryText(t, j)}</td>
                <td>{(j.steps ?? []).length}</td>
                <td>{t.dateTime(j.updateTime)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.pager}
    </>
  );
}

function entryText(t: ReturnType<typeof useI18n>, j: Journey): string {
  const e = j.entry ?? {};
  if (e.event) return t.t('entry.eventIs', { event: e.event.event ?? '' });
  if (e.segmentEntered) return t.t('entry.segmentEntered');
  if (e.broadcast) return t.t('entry.broadcast');
  return '—';
}

/** useRefs loads the channels and segments a journey form picks from. */
function useRefs() {
  const { api } = useApp();
  return useAsync(async () => {
    const [c, s] = await Promise.all([
      api.get<{ channels?: Channel[] }>('/v1/channels', { pageSize: 1000 }),
      api.get<{ segments?: Segment[] }>('/v1/segments', { pageSize: 1000 }),
    ]);
    return { channels: c.channels ?? [], segments: s.segments ?? [] };
  }, []);
}

/** JourneyEditor creates a draft, or edits one when journey is given. */
export function JourneyEditor({ journey, onSaved }: { journey?: Journey; onSaved?(j: Journey): void }) {
  const t = useI18n();
  const { api } = useApp();
  const refs = useRefs();
  const [form, setForm] = useState<JourneyForm>(() => (journey ? fromJourney(journey, t.timeZone) : emptyJourney()));
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const channels = refs.data?.channels ?? [];
  const segments = refs.data?.segments ?? [];

  const set = (patch: Partial<JourneyForm>) => setForm({ ...form, ...patch });
  const setStep = (i: number, patch: Partial<StepForm>) =>
    setForm({ ...form, steps: form.steps.map((s, j) => (j === i ? { ...s, ...patch } : s)) });
  const setExit = (i: number, patch: Partial<ExitForm>) =>
    setForm({ ...form, exits: form.exits.map((x, j) => (j === i ? { ...x, ...patch } : x)) });
  const move = (i: number, d: number) => {
    const steps = [...form.steps];
    [steps[i], steps[i + d]] = [steps[i + d], steps[i]];
    setForm({ ...form, steps });
  };

  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const found = validate(form, channels);
    setProblems(Object.fromEntries(found.map((p) => [p.field, t.t(p.message)])));
    if (found.length) {
      document.getElementById(`f-${found[0].field}`)?.focus();
      return;
    }
    setBusy(true);
    try {
      const body = toJourney(form, t.timeZone);
      const r = journey
        ? await api.patch<{ journey: Journey }>(`/v1/journeys/${encodeURIComponent(journey.journeyId ?? '')}`, body)
        : await api.post<{ journey: Journey }>('/v1/journeys', body);
      if (onSaved) onSaved(r.journey);
      else navigate({ view: 'journey', journeyId: r.journey.journeyId ?? '' });
    } catch (err) {
      setError(err);
      if (err instanceof ApiError) {
        setProblems(Object.fromEntries(err.violations.map((v) => [serverField(v.field), v.description]).filter(([f]) => f)));
      }
    } finally {
      setBusy(false);
    }
  };

  // Inputs carry ids f-<field> so a message (and focus) finds them.
  const fieldProps = (field: string) => ({
    id: `f-${field}`,
    'aria-invalid': problems[field] ? true : undefined,
    'aria-describedby': problems[field] ? `e-${field}` : undefined,
  });
  const stepIds = form.steps.map((s) => s.id);
  const stepSelect = (i: number, key: 'next' | 'onEvent' | 'onTimeout' | 'thenStep' | 'elseStep', label: MessageKey, emptyLabel: MessageKey) => {
    const field = `steps.${i}.${key}`;
    return (
      <div class="field">
        <label for={`f-${field}`}>{t.t(label)}</label>
        <select {...fieldProps(field)} value={form.steps[i][key]} onChange={(e) => setStep(i, { [key]: e.currentTarget.value })}>
          <option value="">{t.t(emptyLabel)}</option>
          {stepIds.filter((id, j) => j !== i && id).map((id) => <option key={id} value={id}>{id}</option>)}
        </select>
        <FieldError id={`e-${field}`} message={problems[field]} />
      </div>
    );
  };
  const text = (field: string, label: MessageKey, value: string, onInput: (v: string) => void, opts: { type?: string; area?: boolean; help?: MessageKey } = {}) => (
    <div class="field">
      <label for={`f-${field}`}>{t.t(label)}</label>
      {opts.area ? (
        <textarea {...fieldProps(field)} rows={4} value={value} onInput={(e) => onInput(e.currentTarget.value)} />
      ) : (
        <input {...fieldProps(field)} type={opts.type ?? 'text'} value={value} onInput={(e) => onInput(e.currentTarget.value)} />
      )}
      {opts.help && <span class="muted small">{t.t(opts.help)}</span>}
      <FieldError id={`e-${field}`} message={problems[field]} />
    </div>
  );
  const segmentSelect = (field: string, label: MessageKey, value: string, onChange: (v: string) => void) => (
    <div class="field">
      <label for={`f-${field}`}>{t.t(label)}</label>
      <select {...fieldProps(field)} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">{t.t('form.choose')}</option>
        {segments.map((s) => <option key={s.segmentId} value={s.segmentId}>{s.displayName}</option>)}
      </select>
      <FieldError id={`e-${field}`} message={problems[field]} />
    </div>
  );
  const duration = (i: number, label: MessageKey) => {
    const s = form.steps[i];
    const field = `steps.${i}.amount`;
    return (
      <div class="field inline">
        <label for={`f-${field}`}>{t.t(label)}</label>
        <input {...fieldProps(field)} type="number" min="1" step="any" value={s.amount} onInput={(e) => setStep(i, { amount: e.currentTarget.value })} />
        <label for={`f-steps.${i}.unit`} class="sr-only">{t.t('journey.unit')}</label>
        <select id={`f-steps.${i}.unit`} value={s.unit} onChange={(e) => setStep(i, { unit: e.currentTarget.value as StepForm['unit'] })}>
          {units.map((u) => <option key={u} value={u}>{t.t(`unit.${u}` as MessageKey)}</option>)}
        </select>
        <FieldError id={`e-${field}`} message={problems[field]} />
      </div>
    );
  };

  return (
    <form onSubmit={save} noValidate>
      <h1>{journey ? t.t('journeys.edit') : t.t('journeys.new')}</h1>
      {refs.loading && <Loading />}
      <ErrorBox error={refs.error} />
      <div class="editor">
        <div>
          <Section title={t.t('journey.basics')} id="sec-basics">
            {text('displayName', 'journey.name', form.displayName, (v) => set({ displayName: v }))}
            {text('description', 'journey.description', form.description, (v) => set({ description: v }), { area: true })}
            <fieldset>
              <legend>{t.t('journey.entry')}</legend>
              {entryKinds.map((k) => (
                <label key={k} class="radio">
                  <input type="radio" name="entryKind" value={k} checked={form.entryKind === k} onChange={() => set({ entryKind: k })} />
                  {t.t(`entryKind.${k}` as MessageKey)}
                </label>
              ))}
              {form.entryKind === 'event'
                ? text('entryEvent', 'journey.entryEvent', form.entryEvent, (v) => set({ entryEvent: v }), { help: 'journey.entryEventHelp' })
                : segmentSelect('entrySegmentId', 'journey.segment', form.entrySegmentId, (v) => set({ entrySegmentId: v }))}
              {form.entryKind === 'broadcast' &&
                text('broadcastStart', 'journey.broadcastStart', form.broadcastStart, (v) => set({ broadcastStart: v }), { type: 'datetime-local', help: 'journey.broadcastStartHelp' })}
            </fieldset>
            {form.entryKind !== 'broadcast' && (
              <fieldset>
                <legend>{t.t('journey.reentry')}</legend>
                {reentries.map((r) => (
                  <label key={r} class="radio">
                    <input type="radio" name="reentry" value={r} checked={form.reentry === r} onChange={() => set({ reentry: r })} />
                    {t.t(`reentry.${r}` as MessageKey)}
                  </label>
                ))}
                {form.reentry === 'REENTRY_AFTER_COOLDOWN' && (
                  <div class="field inline">
                    <label for="f-cooldownAmount">{t.t('journey.cooldown')}</label>
                    <input {...fieldProps('cooldownAmount')} type="number" min="1" value={form.cooldownAmount} onInput={(e) => set({ cooldownAmount: e.currentTarget.value })} />
                    <label for="f-cooldownUnit" class="sr-only">{t.t('journey.unit')}</label>
                    <select id="f-cooldownUnit" value={form.cooldownUnit} onChange={(e) => set({ cooldownUnit: e.currentTarget.value as StepForm['unit'] })}>
                      {units.map((u) => <option key={u} value={u}>{t.t(`unit.${u}` as MessageKey)}</option>)}
                    </select>
                    <FieldError id="e-cooldownAmount" message={problems.cooldownAmount} />
                  </div>
                )}
              </fieldset>
            )}
            <fieldset>
              <legend>{t.t('journey.exits')}</legend>
              <p class="muted small">{t.t('journey.exitsHelp')}</p>
              {form.exits.map((x, i) => (
                <div class="row" key={i}>
                  <div class="field">
                    <label for={`f-exits.${i}.kind`}>{t.t('journey.exitKind')}</label>
                    <select id={`f-exits.${i}.kind`} value={x.kind} onChange={(e) => setExit(i, { kind: e.currentTarget.value as ExitForm['kind'] })}>
                      {exitKinds.map((k) => <option key={k} value={k}>{t.t(`exitKind.${k}` as MessageKey)}</option>)}
                    </select>
                  </div>
                  {x.kind === 'event' && text(`exits.${i}.event`, 'journey.exitEvent', x.event, (v) => setExit(i, { event: v }))}
                  {x.kind === 'segmentLeft' && segmentSelect(`exits.${i}.segmentId`, 'journey.segment', x.segmentId, (v) => setExit(i, { segmentId: v }))}
                  {x.kind === 'unsubscribed' && (
                    <div class="field">
                      <label for={`f-exits.${i}.channelType`}>{t.t('journey.channel')}</label>
                      <select id={`f-exits.${i}.channelType`} value={x.channelType} onChange={(e) => setExit(i, { channelType: e.currentTarget.value })}>
                        <option value="">{t.t('channelType.CHANNEL_TYPE_UNSPECIFIED')}</option>
                        {['EMAIL', 'LINE', 'WEBHOOK'].map((c) => <option key={c} value={c}>{enumLabel(t, 'channelType', c)}</option>)}
                      </select>
                    </div>
                  )}
                  <button type="button" class="secondary" onClick={() => setForm({ ...form, exits: form.exits.filter((_, j) => j !== i) })}>{t.t('journey.remove')}</button>
                </div>
              ))}
              <button type="button" class="secondary" onClick={() => setForm({ ...form, exits: [...form.exits, newExit()] })}>{t.t('journey.addExit')}</button>
            </fieldset>
          </Section>
          <Section title={t.t('journey.steps')} id="sec-steps">
            <FieldError id="e-steps" message={problems.steps} />
            <ol class="steps">
              {form.steps.map((s, i) => (
                <li key={i} class="card step" data-step={s.id}>
                  <fieldset>
                    <legend>{t.t('journey.stepN', { n: i + 1 })} · {t.t(`stepKind.${s.kind}` as MessageKey)}</legend>
                    <div class="row">
                      {text(`steps.${i}.id`, 'journey.stepId', s.id, (v) => setStep(i, { id: v }))}
                      <div class="field">
                        <label for={`f-steps.${i}.kind`}>{t.t('journey.stepKind')}</label>
                        <select id={`f-steps.${i}.kind`} value={s.kind} onChange={(e) => setStep(i, { kind: e.currentTarget.value as StepKind })}>
                          {stepKinds.map((k) => <option key={k} value={k}>{t.t(`stepKind.${k}` as MessageKey)}</option>)}
                        </select>
                      </div>
                    </div>
                    {s.kind === 'send' && (
                      <>
                        <div class="field">
                          <label for={`f-steps.${i}.channelId`}>{t.t('journey.channel')}</label>
                          <select {...fieldProps(`steps.${i}.channelId`)} value={s.channelId} onChange={(e) => setStep(i, { channelId: e.currentTarget.value })}>
                            <option value="">{t.t('form.choose')}</option>
                            {channels.map((c) => <option key={c.channelId} value={c.channelId}>{c.displayName} ({enumLabel(t, 'channelType', c.type)})</option>)}
                          </select>
                          {channels.length === 0 && <span class="muted small">{t.t('journey.noChannels')} <a href="#/settings">{t.t('nav.settings')}</a></span>}
                          <FieldError id={`e-steps.${i}.channelId`} message={problems[`steps.${i}.channelId`]} />
                        </div>
                        {channels.find((c) => c.channelId === s.channelId)?.type === 'EMAIL' &&
                          text(`steps.${i}.subject`, 'journey.subject', s.subject, (v) => setStep(i, { subject: v }))}
                        {text(`steps.${i}.text`, 'journey.text', s.text, (v) => setStep(i, { text: v }), { area: true, help: 'journey.textHelp' })}
                        <label class="check">
                          <input type="checkbox" checked={s.transactional} onChange={(e) => setStep(i, { transactional: e.currentTarget.checked })} />
                          {t.t('journey.transactional')}
                        </label>
                        {stepSelect(i, 'next', 'journey.next', 'journey.nextDefault')}
                      </>
                    )}
                    {s.kind === 'delay' && (<>{duration(i, 'journey.wait')}{stepSelect(i, 'next', 'journey.next', 'journey.nextDefault')}</>)}
                    {s.kind === 'delayUntil' && (
                      <>
                        {text(`steps.${i}.localTime`, 'journey.localTime', s.localTime, (v) => setStep(i, { localTime: v }), { type: 'time' })}
                        <div class="field">
                          <label for={`f-steps.${i}.weekday`}>{t.t('journey.weekday')}</label>
                          <select id={`f-steps.${i}.weekday`} value={s.weekday} onChange={(e) => setStep(i, { weekday: e.currentTarget.value })}>
                            {weekdays.map((w) => <option key={w} value={w}>{t.t(`weekday.${w || 'any'}` as MessageKey)}</option>)}
                          </select>
                        </div>
                        {stepSelect(i, 'next', 'journey.next', 'journey.nextDefault')}
                      </>
                    )}
                    {s.kind === 'waitFor' && (
                      <>
                        {text(`steps.${i}.waitEvent`, 'journey.waitEvent', s.waitEvent, (v) => setStep(i, { waitEvent: v }))}
                        {duration(i, 'journey.timeout')}
                        {stepSelect(i, 'onEvent', 'journey.onEvent', 'journey.complete')}
                        {stepSelect(i, 'onTimeout', 'journey.onTimeout', 'journey.complete')}
                      </>
                    )}
                    {s.kind === 'branch' && (
                      <>
                        <div class="field">
                          <label for={`f-steps.${i}.branchKind`}>{t.t('journey.condition')}</label>
                          <select id={`f-steps.${i}.branchKind`} value={s.branchKind} onChange={(e) => setStep(i, { branchKind: e.currentTarget.value as StepForm['branchKind'] })}>
                            <option value="segment">{t.t('branch.segment')}</option>
                            <option value="trait">{t.t('branch.trait')}</option>
                          </select>
                        </div>
                        {s.branchKind === 'segment'
                          ? segmentSelect(`steps.${i}.segmentId`, 'journey.segment', s.segmentId, (v) => setStep(i, { segmentId: v }))
                          : (<>
                            {text(`steps.${i}.traitKey`, 'journey.traitKey', s.traitKey, (v) => setStep(i, { traitKey: v }))}
                            {text(`steps.${i}.traitEquals`, 'journey.traitEquals', s.traitEquals, (v) => setStep(i, { traitEquals: v }), { help: 'journey.traitEqualsHelp' })}
                          </>)}
                        {stepSelect(i, 'thenStep', 'journey.then', 'journey.complete')}
                        {stepSelect(i, 'elseStep', 'journey.else', 'journey.complete')}
                      </>
                    )}
                    <div class="actions">
                      <button type="button" class="secondary" disabled={i === 0} onClick={() => move(i, -1)}>{t.t('journey.up')}</button>
                      <button type="button" class="secondary" disabled={i === form.steps.length - 1} onClick={() => move(i, 1)}>{t.t('journey.down')}</button>
                      <button type="button" class="secondary" onClick={() => setForm({ ...form, steps: form.steps.filter((_, j) => j !== i) })}>{t.t('journey.remove')}</button>
                    </div>
                  </fieldset>
                </li>
              ))}
            </ol>
            <div class="actions">
              {stepKinds.map((k) => (
                <button key={k} type="button" class="secondary" onClick={() => setForm({ ...form, steps: [...form.steps, newStep(k, form.steps)] })}>
                  {t.t('journey.add', { kind: t.t(`stepKind.${k}` as MessageKey) })}
                </button>
              ))}
            </div>
          </Section>
        </div>
        <aside>
          <Section title={t.t('journey.outline')} id="sec-outline">
            <Outline form={form} />
          </Section>
        </aside>
      </div>
      <ErrorBox error={error} />
      <div class="actions">
        <button type="submit" disabled={busy}>{t.t('journey.save')}</button>
      </div>
    </form>
  );
}

/** Outline draws the steps in order with where each goes next. */
function Outline({ form }: { form: JourneyForm }) {
  const t = useI18n();
  const items = outline(form);
  if (items.length === 0) return <Empty>{t.t('journey.noSteps')}</Empty>;
  return (
    <ol class="outline">
      <li class="entry">{t.t(`entryKind.${form.entryKind}` as MessageKey)}</li>
      {items.map((it) => (
        <li key={it.id} class={`node ${it.kind}`}>
          <strong>{it.id}</strong> <span class="muted">{t.t(`stepKind.${it.kind}` as MessageKey)}</span>
          {it.targets.length > 0 && (
            <ul>
              {it.targets.map((tg) => (
                <li key={tg.label}>{t.t(tg.label)} → {tg.to || t.t('journey.complete')}</li>
              ))}
            </ul>
          )}
        </li>
      ))}
    </ol>
  );
}

/** JourneyDetail shows one journey: state actions, live stats, sends, and the editor while a draft. */
export function JourneyDetail({ journeyId }: { journeyId: string }) {
  const t = useI18n();
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>();
  const [editing, setEditing] = useState(false);
  const id = encodeURIComponent(journeyId);
  const r = useAsync(() => api.get<{ journey: Journey }>(`/v1/journeys/${id}`), [journeyId, version]);
  const stats = useAsync(() => api.get<{ stats: JourneyStats }>(`/v1/journeys/${id}/stats`), [journeyId, version]);
  const sends = usePaged(
    (pageToken) => api.get<{ sends?: Send[]; nextPageToken?: string }>(`/v1/journeys/${id}/sends`, { pageSize: 50, pageToken }),
    [journeyId, version],
  );
  const j = r.data?.journey;
  if (r.loading && !j) return <Loading />;
  if (r.error) return <ErrorBox error={r.error} />;
  if (!j) return null;
  const act = async (action: 'activate' | 'pause' | 'resume' | 'archive') => {
    if (action === 'archive' && !confirm(t.t('journey.confirmArchive'))) return;
    setError(undefined);
    try {
      await api.post(`/v1/journeys/${id}:${action}`);
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
  };
  if (editing) {
    return <JourneyEditor journey={j} onSaved={() => { setEditing(false); setVersion((v) => v + 1); }} />;
  }
  const s = stats.data?.stats;
  return (
    <>
      <h1>{j.displayName} <span class={`badge ${j.state}`} data-state={j.state}>{enumLabel(t, 'journeyState', j.state)}</span></h1>
      {j.description && <p>{j.description}</p>}
      <div class="toolbar">
        {j.state === 'DRAFT' && <button type="button" onClick={() => act('activate')}>{t.t('journey.activate')}</button>}
        {j.state === 'DRAFT' && <button type="button" class="secondary" onClick={() => setEditing(true)}>{t.t('journey.editDraft')}</button>}
        {j.state === 'ACTIVE' && <button type="button" class="secondary" onClick={() => act('pause')}>{t.t('journey.pause')}</button>}
        {j.state === 'PAUSED' && <button type="button" onClick={() => act('resume')}>{t.t('journey.resume')}</button>}
        {j.state !== 'ARCHIVED' && <button type="button" class="secondary danger" onClick={() => act('archive')}>{t.t('journey.archive')}</button>}
        <button type="button" class="secondary" onClick={() => setVersion((v) => v + 1)}>{t.t('common.refresh')}</button>
      </div>
      <ErrorBox error={error} />
      <div class="grid">
        <Section title={t.t('journey.stats')} id="sec-stats">
          <ErrorBox error={stats.error} />
          {s && (
            <>
              <dl class="stats">
                <div><dt>{t.t('stats.entered')}</dt><dd data-stat="entered">{t.number(s.entered, 0)}</dd></div>
                <div><dt>{t.t('stats.active')}</dt><dd>{t.number(s.active, 0)}</dd></div>
                <div><dt>{t.t('stats.completed')}</dt><dd>{t.number(s.completed, 0)}</dd></div>
                <div><dt>{t.t('stats.exited')}</dt><dd>{t.number(s.exited, 0)}</dd></div>
              </dl>
              <h3>{t.t('stats.byStep')}</h3>
              <table>
                <thead><tr><th scope="col">{t.t('journey.stepId')}</th><th scope="col">{t.t('journey.stepKind')}</th><th scope="col">{t.t('stats.here')}</th></tr></thead>
                <tbody>
                  {(j.steps ?? []).map((st) => (
                    <tr key={st.id}>
                      <td>{st.id}</td>
                      <td>{t.t(`stepKind.${fromJourney({ steps: [st] }).steps[0].kind}` as MessageKey)}</td>
                      <td>{t.number(s.activeByStep?.find((x) => x.stepId === st.id)?.count ?? 0, 0)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {(s.sends ?? []).length > 0 && (
                <>
                  <h3>{t.t('stats.sends')}</h3>
                  <table>
                    <thead><tr><th scope="col">{t.t('send.channel')}</th><th scope="col">{t.t('send.status')}</th><th scope="col">{t.t('stats.count')}</th></tr></thead>
                    <tbody>
                      {(s.sends ?? []).map((x, k) => (
                        <tr key={k}>
                          <td>{enumLabel(t, 'channelType', x.channelType)}</td>
                          <td>{enumLabel(t, 'sendStatus', x.status)}{x.reason && x.reason !== 'SKIP_REASON_UNSPECIFIED' ? ` (${enumLabel(t, 'skipReason', x.reason)})` : ''}</td>
                          <td>{t.number(x.count, 0)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </>
              )}
              {(s.exitedByReason ?? []).length > 0 && (
                <>
                  <h3>{t.t('stats.exits')}</h3>
                  <ul>{(s.exitedByReason ?? []).map((x) => <li key={x.reason}>{enumLabel(t, 'exitReason', x.reason)}: {t.number(x.count, 0)}</li>)}</ul>
                </>
              )}
            </>
          )}
        </Section>
        <Section title={t.t('journey.outline')} id="sec-outline">
          <Outline form={fromJourney(j)} />
        </Section>
      </div>
      <Section title={t.t('results.title')} id="sec-results" wide>
        <JourneyResults journeyId={journeyId} version={version} />
      </Section>
      <Section title={t.t('journey.sends')} id="sec-sends">
        <ErrorBox error={sends.error} />
        {(sends.data?.sends ?? []).length === 0 ? <Empty>{t.t('customer.noSends')}</Empty> : <SendsTable sends={sends.data?.sends ?? []} showCustomer />}
        {sends.pager}
      </Section>
    </>
  );
}
