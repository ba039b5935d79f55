import { useEffect, useState } from 'preact/hooks';
import type { Segment } from '../api/types';
import { useApp } from '../app';
import { ErrorBox, FieldError, useAsync } from '../components/ui';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { href, navigate } from '../router';
import {
  aggregations, blank, conditionKinds, lifecycleStages, numericOperators, operators, predictedTraits, toRule, validate, zoneOffset,
  type Comparison, type Kind, type Node, type Operator, type Problem,
} from '../segment/rule';

type SetNode = (n: Node) => void;

/**
 * SegmentBuilder writes a segment's rule as a tree of conditions (events
 * with property filters and aggregates, traits, RFM, lifecycle, predicted
 * traits, other segments, combined with all / any / not) and shows how many
 * customers it matches now, asking /v1/segments:preview as the rule changes.
 */
export function SegmentBuilder() {
  const t = useI18n();
  const { api, workspace } = useApp();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [rule, setRule] = useState<Node>({ kind: 'all', children: [blank('event')] });
  const [shown, setShown] = useState(false);
  const [saveError, setSaveError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const segments = useAsync(() => api.get<{ segments?: Segment[] }>('/v1/segments', { pageSize: 1000 }), []);
  const offset = zoneOffset(workspace.timezone || 'Asia/Tokyo', new Date());
  const problems = validate(rule);
  const json = JSON.stringify(toRule(rule, offset));

  // The preview follows the rule, half a second after the last change, and
  // only for a rule the server would accept.
  const [preview, setPreview] = useState<{ size?: string; error?: unknown; loading: boolean; rule?: string }>({ loading: false });
  useEffect(() => {
    if (problems.length) return;
    let live = true;
    const timer = setTimeout(() => {
      setPreview((p) => ({ ...p, loading: true }));
      api.post<{ size?: string }>('/v1/segments:preview', { rule: JSON.parse(json), sampleSize: 1 }).then(
        (r) => live && setPreview({ size: r.size ?? '0', loading: false, rule: json }),
        (error) => live && setPreview({ error, loading: false, rule: json }),
      );
    }, 500);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [json, problems.length]);

  async function save(e: Event) {
    e.preventDefault();
    setShown(true);
    if (problems.length || !name.trim()) return;
    setSaving(true);
    setSaveError(undefined);
    try {
      const r = await api.post<{ segment: Segment }>('/v1/segments', { displayName: name.trim(), description, rule: JSON.parse(json) });
      navigate({ view: 'segments', segmentId: r.segment.segmentId ?? '' });
    } catch (err) {
      setSaveError(err);
    } finally {
      setSaving(false);
    }
  }

  const ctx: Ctx = { problems: shown ? problems : problems.filter((p) => p.code !== 'required' && p.code !== 'emptyGroup' && p.code !== 'stages' && p.code !== 'rfmEmpty'), segments: segments.data?.segments ?? [] };
  const stale = preview.rule !== json;
  return (
    <>
      <p><a href={href({ view: 'segments' })}>{t.t('segments.back')}</a></p>
      <h1>{t.t('builder.title')}</h1>
      <form onSubmit={save} noValidate>
        <div class="builder-head">
          <label>
            {t.t('builder.name')}
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} aria-invalid={shown && !name.trim() ? 'true' : undefined}
              aria-describedby="err-name" />
            <FieldError id="err-name" message={shown && !name.trim() ? t.t('builder.err.required') : undefined} />
          </label>
          <label>
            {t.t('builder.description')}
            <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
          </label>
        </div>
        <div class="preview card" aria-live="polite" data-preview={!stale && !preview.error ? preview.size : undefined}>
          {problems.length ? (
            <span class="muted">{t.t('builder.previewIncomplete')}</span>
          ) : preview.error && !stale ? (
            <ErrorBox error={preview.error} />
          ) : preview.size !== undefined ? (
            <>
              {t.t('builder.previewSize')} <strong class="big-ish">{t.t('segments.members', { n: t.number(preview.size, 0) })}</strong>
              {(stale || preview.loading) && <span class="muted small"> {t.t('builder.previewUpdating')}</span>}
            </>
          ) : (
            <span class="muted">{t.t('builder.previewUpdating')}</span>
          )}
        </div>
        <Group node={rule} set={setRule} path="rule" ctx={ctx} root />
        <ErrorBox error={saveError} />
        <div class="toolbar">
          <button type="submit" disabled={saving}>{t.t('builder.save')}</button>
        </div>
      </form>
    </>
  );
}

interface Ctx { problems: Problem[]; segments: Segment[] }

function useProblem(ctx: Ctx, path: string): { invalid?: 'true'; message?: string; id: string } {
  const t = useI18n();
  const p = ctx.problems.find((x) => x.path === path);
  const id = `err-${path.replace(/\./g, '-')}`;
  return p ? { invalid: 'true', message: t.t(`builder.err.${p.code}` as MessageKey), id } : { id };
}

/** Group edits an all / any list, or one condition at the root. */
function Group({ node, set, path, ctx, root }: { node: Node; set: SetNode; path: string; ctx: Ctx; root?: boolean }) {
  const t = useI18n();
  const [adding, setAdding] = useState<Kind>('event');
  const problem = useProblem(ctx, path);
  if (node.kind !== 'all' && node.kind !== 'any') return <Condition node={node} set={set} path={path} ctx={ctx} />;
  const children = node.children;
  const put = (i: number, c: Node) => set({ ...node, children: children.map((x, j) => (j === i ? c : x)) });
  return (
    <fieldset class={`rule-group ${root ? 'root' : ''}`} data-path={path}>
      <legend>
        <label>
          <span class="sr-only">{t.t('builder.combine')}</span>
          <select value={node.kind} onChange={(e) => set({ ...node, kind: e.currentTarget.value as 'all' | 'any' })}>
            <option value="all">{t.t('builder.all')}</option>
            <option value="any">{t.t('builder.any')}</option>
          </select>
        </label>
      </legend>
      {children.map((c, i) => (
        <div class="rule-item" key={i}>
          {c.kind === 'all' || c.kind === 'any'
            ? <Group node={c} set={(n) => put(i, n)} path={`${path}.${i}`} ctx={ctx} />
            : <Condition node={c} set={(n) => put(i, n)} path={`${path}.${i}`} ctx={ctx} />}
          <button type="button" class="secondary small-btn" onClick={() => set({ ...node, children: children.filter((_, j) => j !== i) })}
            aria-label={t.t('builder.removeN', { n: i + 1 })}>{t.t('builder.remove')}</button>
        </div>
      ))}
      {problem.message && <p class="field-error" id={problem.id}>{problem.message}</p>}
      <div class="toolbar">
        <label>
          <span class="sr-only">{t.t('builder.kind')}</span>
          <select value={adding} onChange={(e) => setAdding(e.currentTarget.value as Kind)} aria-label={t.t('builder.kind')}>
            {conditionKinds.map((k) => <option key={k} value={k}>{t.t(`builder.kind.${k}` as MessageKey)}</option>)}
          </select>
        </label>
        <button type="button" class="secondary" onClick={() => set({ ...node, children: [...children, blank(adding)] })}>
          {t.t('builder.add')}
        </button>
      </div>
    </fieldset>
  );
}

/** Condition edits one condition (or a "not" around one). */
function Condition({ node, set, path, ctx }: { node: Node; set: SetNode; path: string; ctx: Ctx }) {
  const t = useI18n();
  // Called on every render whatever the kind, so the hooks keep their order.
  const p = useProblem(ctx, path);
  switch (node.kind) {
    case 'all':
    case 'any':
      return <Group node={node} set={set} path={path} ctx={ctx} />;
    case 'not':
      return (
        <div class="rule-not" data-path={path}>
          <strong>{t.t('builder.kind.not')}</strong>
          <Condition node={node.child} set={(c) => set({ ...node, child: c })} path={`${path}.0`} ctx={ctx} />
        </div>
      );
    case 'trait':
      return (
        <div class="rule-cond" data-path={path}>
          <strong>{t.t('builder.kind.trait')}</strong>
          <Text label={t.t('builder.traitKey')} value={node.key} onInput={(key) => set({ ...node, key })} path={`${path}.key`} ctx={ctx} />
          <Compare c={node} set={(c) => set({ ...node, ...c })} path={path} ctx={ctx} ops={operators} />
        </div>
      );
    case 'predicted':
      return (
        <div class="rule-cond" data-path={path}>
          <strong>{t.t('builder.kind.predicted')}</strong>
          <label>
            {t.t('builder.predictedTrait')}{' '}
            <select value={node.trait} onChange={(e) => set({ ...node, trait: e.currentTarget.value })}>
              {predictedTraits.map((p) => <option key={p} value={p}>{t.t(`builder.predicted.${p}` as MessageKey)}</option>)}
            </select>
          </label>
          <Compare c={node} set={(c) => set({ ...node, ...c })} path={path} ctx={ctx} ops={[...numericOperators, 'EXISTS', 'NOT_EXISTS']} />
        </div>
      );
    case 'segment':
      return (
        <div class="rule-cond" data-path={path}>
          <strong>{t.t('builder.kind.segment')}</strong>
          <Select label={t.t('builder.segment')} value={node.segmentId} onChange={(segmentId) => set({ ...node, segmentId })} path={`${path}.segmentId`} ctx={ctx}
            options={[['', t.t('builder.choose')], ...ctx.segments.map((s) => [s.segmentId ?? '', s.displayName ?? ''] as [string, string])]} />
        </div>
      );
    case 'lifecycle':
      return (
        <fieldset class="rule-cond" data-path={path} aria-invalid={p.invalid} aria-describedby={p.id}>
          <legend>{t.t('builder.kind.lifecycle')}</legend>
          {lifecycleStages.map((s) => (
            <label key={s} class="inline">
              <input type="checkbox" checked={node.stages.includes(s)}
                onChange={(e) => set({ ...node, stages: e.currentTarget.checked ? [...node.stages, s] : node.stages.filter((x) => x !== s) })} />
              {' '}{t.t(`stage.${s}` as MessageKey)}
            </label>
          ))}
          <FieldError id={p.id} message={p.message} />
        </fieldset>
      );
    case 'rfm':
      return (
        <fieldset class="rule-cond" data-path={path}>
          <legend>{t.t('builder.kind.rfm')}</legend>
          <p class="small muted">{t.t('builder.rfmHelp')}</p>
          {(['recency', 'frequency', 'monetary'] as const).map((k) => (
            <div key={k} class="inline-fields">
              <span>{t.t(`builder.rfm.${k}` as MessageKey)}</span>
              <Text label={t.t('builder.rfmMin', { score: t.t(`builder.rfm.${k}` as MessageKey) })} short value={node[k].min}
                onInput={(min) => set({ ...node, [k]: { ...node[k], min } })} path={`${path}.${k}.min`} ctx={ctx} />
              <Text label={t.t('builder.rfmMax', { score: t.t(`builder.rfm.${k}` as MessageKey) })} short value={node[k].max}
                onInput={(max) => set({ ...node, [k]: { ...node[k], max } })} path={`${path}.${k}.max`} ctx={ctx} />
            </div>
          ))}
          <FieldError id={p.id} message={p.message} />
        </fieldset>
      );
    case 'event':
      return (
        <div class="rule-cond" data-path={path}>
          <strong>{t.t('builder.kind.event')}</strong>
          <div class="inline-fields">
            <Text label={t.t('builder.eventName')} value={node.event} onInput={(event) => set({ ...node, event })} path={`${path}.event`} ctx={ctx} />
            <Select label={t.t('builder.did')} value={node.did ? 'did' : 'didNot'} path={`${path}.did`} ctx={ctx}
              onChange={(v) => set({ ...node, did: v === 'did' })}
              options={[['did', t.t('builder.didYes')], ['didNot', t.t('builder.didNo')]]} />
            {node.did && (
              <Text label={t.t('builder.minCount')} short value={node.minCount} onInput={(minCount) => set({ ...node, minCount })} path={`${path}.minCount`} ctx={ctx} />
            )}
          </div>
          <div class="inline-fields">
            <Text label={t.t('builder.withinDays')} short value={node.withinDays} onInput={(withinDays) => set({ ...node, withinDays })} path={`${path}.withinDays`} ctx={ctx} />
            <Text label={t.t('builder.from')} type="date" value={node.from} onInput={(from) => set({ ...node, from })} path={`${path}.from`} ctx={ctx} />
            <Text label={t.t('builder.to')} type="date" value={node.to} onInput={(to) => set({ ...node, to })} path={`${path}.to`} ctx={ctx} />
          </div>
          {node.where.map((f, i) => (
            <div class="inline-fields where" key={i}>
              <span>{t.t('builder.where')}</span>
              <Text label={t.t('builder.property')} value={f.property} path={`${path}.where.${i}.property`} ctx={ctx}
                onInput={(property) => set({ ...node, where: node.where.map((x, j) => (j === i ? { ...x, property } : x)) })} />
              <Compare c={f} path={`${path}.where.${i}`} ctx={ctx} ops={operators}
                set={(c) => set({ ...node, where: node.where.map((x, j) => (j === i ? { ...x, ...c } : x)) })} />
              <button type="button" class="secondary small-btn" onClick={() => set({ ...node, where: node.where.filter((_, j) => j !== i) })}>
                {t.t('builder.removeFilter')}
              </button>
            </div>
          ))}
          {node.aggregate && (
            <div class="inline-fields where">
              <span>{t.t('builder.aggregate')}</span>
              <Select label={t.t('builder.fn')} value={node.aggregate.fn} path={`${path}.aggregate.fn`} ctx={ctx}
                onChange={(fn) => set({ ...node, aggregate: { ...node.aggregate!, fn } })}
                options={aggregations.map((a) => [a, t.t(`builder.fn.${a}` as MessageKey)] as [string, string])} />
              {node.aggregate.fn !== 'COUNT' && (
                <Text label={t.t('builder.property')} value={node.aggregate.property} path={`${path}.aggregate.property`} ctx={ctx}
                  onInput={(property) => set({ ...node, aggregate: { ...node.aggregate!, property } })} />
              )}
              <Compare c={node.aggregate} path={`${path}.aggregate`} ctx={ctx} ops={numericOperators}
                set={(c) => set({ ...node, aggregate: { ...node.aggregate!, ...c } })} />
              <button type="button" class="secondary small-btn" onClick={() => set({ ...node, aggregate: undefined })}>{t.t('builder.removeFilter')}</button>
            </div>
          )}
          <div class="toolbar">
            <button type="button" class="secondary" onClick={() => set({ ...node, where: [...node.where, { property: '', op: 'EQUALS', value: '' }] })}>
              {t.t('builder.addWhere')}
            </button>
            {!node.aggregate && (
              <button type="button" class="secondary" onClick={() => set({ ...node, aggregate: { fn: 'SUM', property: 'revenue', op: 'GTE', value: '' } })}>
                {t.t('builder.addAggregate')}
              </button>
            )}
          </div>
        </div>
      );
  }
}

function Compare({ c, set, path, ctx, ops }: { c: Comparison; set: (c: Comparison) => void; path: string; ctx: Ctx; ops: readonly Operator[] }) {
  const t = useI18n();
  const noValue = c.op === 'EXISTS' || c.op === 'NOT_EXISTS';
  return (
    <>
      <Select label={t.t('builder.op')} value={c.op} path={`${path}.op`} ctx={ctx} onChange={(op) => set({ ...c, op: op as Operator })}
        options={ops.map((o) => [o, t.t(`op.${o}` as MessageKey)] as [string, string])} />
      {!noValue && (
        <Text label={t.t('builder.value')} value={c.value} onInput={(value) => set({ ...c, value })} path={`${path}.value`} ctx={ctx}
          hint={c.op === 'IN' || c.op === 'NOT_IN' ? t.t('builder.hintList') : c.op === 'BETWEEN' ? t.t('builder.hintBetween') : undefined} />
      )}
    </>
  );
}

function Text({ label, value, onInput, path, ctx, short, type, hint }: {
  label: string; value: string; onInput: (v: string) => void; path: string; ctx: Ctx; short?: boolean; type?: string; hint?: string;
}) {
  const p = useProblem(ctx, path);
  return (
    <label class="field">
      <span class="small">{label}</span>
      <input type={type ?? 'text'} value={value} size={short ? 5 : undefined} placeholder={hint} data-field={path}
        aria-invalid={p.invalid} aria-describedby={p.message ? p.id : undefined} onInput={(e) => onInput(e.currentTarget.value)} />
      <FieldError id={p.id} message={p.message} />
    </label>
  );
}

function Select({ label, value, onChange, options, path, ctx }: {
  label: string; value: string; onChange: (v: string) => void; options: Array<[string, string]>; path: string; ctx: Ctx;
}) {
  const p = useProblem(ctx, path);
  return (
    <label class="field">
      <span class="small">{label}</span>
      <select value={value} data-field={path} aria-invalid={p.invalid} aria-describedby={p.message ? p.id : undefined}
        onChange={(e) => onChange(e.currentTarget.value)}>
        {options.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
      </select>
      <FieldError id={p.id} message={p.message} />
    </label>
  );
}
