import { useState } from 'preact/hooks';
import type { EvaluateKpiTreeResponse, Kpi, KpiTree, WhatIfKpiTreeResponse } from '../api/types';
import { useApp } from '../app';
import { useI18n, type I18n } from '../i18n/i18n';
import en from '../i18n/messages/en.json';
import { formatUnit, periodRange, type Period } from '../kpi';
import { change, childrenOf, isLeaf, parseOverrides, roots, unitFromApi, type TreeNode } from '../kpitree';
import { ErrorBox, Loading, useAsync } from './ui';

type Evaluation = EvaluateKpiTreeResponse | WhatIfKpiTreeResponse;

/**
 * KpiTreeView draws a KGI → KSF → KPI tree with each node's value for the
 * period, its previous period and progress to target, and lets the
 * marketer type what-if values into the leaves: the server recomputes the
 * tree (:whatIf) and each node shows its new value beside the measured one.
 */
export function KpiTreeView({ period, kpis }: { period: Period; kpis: Kpi[] }) {
  const t = useI18n();
  const { api } = useApp();
  const trees = useAsync(() => api.get<{ kpiTrees?: KpiTree[] }>('/v1/kpiTrees'), []);
  const [chosen, setChosen] = useState('');
  const list = trees.data?.kpiTrees ?? [];
  const tree = list.find((x) => x.kpiTreeId === chosen) ?? list[0];
  const id = tree?.kpiTreeId ?? '';
  const range = periodRange(period, new Date());
  const evaluation = useAsync(
    () => (id ? api.get<Evaluation>(`/v1/kpiTrees/${encodeURIComponent(id)}:evaluate`, range) : Promise.resolve(undefined)),
    [id, period],
  );
  const [inputs, setInputs] = useState<Record<string, string>>({});
  const [whatIf, setWhatIf] = useState<Evaluation | undefined>();
  const [whatIfError, setWhatIfError] = useState<unknown>();
  const [invalid, setInvalid] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const units = new Map(kpis.map((k) => [k.name ?? '', unitFromApi(k.unit)]));
  const nodes = tree?.nodes ?? [];
  const byId = new Map(nodes.map((n) => [n.id ?? '', n]));
  const values = new Map((evaluation.data?.nodes ?? []).map((v) => [v.id ?? '', v]));
  const simulated = new Map((whatIf?.nodes ?? []).map((v) => [v.id ?? '', v]));
  const kids = childrenOf(nodes);
  const unitOf = (n: TreeNode) => units.get(n.kpi ?? '') ?? 'number';

  async function simulate(e: Event) {
    e.preventDefault();
    const { overrides, invalid: bad } = parseOverrides(inputs);
    setInvalid(bad);
    if (bad.length) return;
    setBusy(true);
    setWhatIfError(undefined);
    try {
      setWhatIf(await api.post<Evaluation>(`/v1/kpiTrees/${encodeURIComponent(id)}:whatIf`, { ...range, overrides }));
    } catch (err) {
      setWhatIfError(err);
    } finally {
      setBusy(false);
    }
  }
  function reset() {
    setInputs({});
    setWhatIf(undefined);
    setInvalid([]);
    setWhatIfError(undefined);
  }

  function Node({ id: nid, depth }: { id: string; depth: number }) {
    const n = byId.get(nid);
    if (!n) return null;
    const v = values.get(nid);
    const w = simulated.get(nid);
    const unit = unitOf(n);
    const name = nodeName(t, n);
    const children = kids.get(nid) ?? [];
    const progress = v?.targetProgress;
    const delta = w ? change(w.value, v?.value) : undefined;
    return (
      <li class={`kpi-node kind-${(n.kind ?? '').toLowerCase()}`} data-node={nid}>
        <div class="kpi-node-box">
          <span class="badge">{n.kind}</span> <strong>{name}</strong>
          {n.kind === 'KSF' ? (
            n.description ? <p class="small muted">{n.description}</p> : null
          ) : (
            <>
              <div class="kpi-node-values">
                <span class="big-ish" data-value={v?.value}>{formatUnit(t, unit, v?.value)}</span>
                {v?.previousValue !== undefined && (
                  <span class="small muted"> {t.t('tree.previous', { value: formatUnit(t, unit, v.previousValue) })}</span>
                )}
                {v?.consistent === false && <span class="small warn"> {t.t('tree.inconsistent', { value: formatUnit(t, unit, v.measuredValue) })}</span>}
              </div>
              {n.formula && <p class="small muted"><code>{n.formula}</code></p>}
              {n.target?.value !== undefined && (
                <div class="small">
                  {t.t('tree.target', { value: formatUnit(t, unit, n.target.value) })}
                  {progress !== undefined && (
                    <>
                      {' '}
                      <progress max={1} value={Math.min(Math.max(progress, 0), 1)} aria-label={t.t('tree.progressOf', { name })} />{' '}
                      <span data-progress={progress}>{t.percent(progress)}</span>
                    </>
                  )}
                </div>
              )}
              {w && (
                <p class="small whatif-result" data-whatif={w.value}>
                  {t.t('tree.whatIfValue', { value: formatUnit(t, unit, w.value) })}
                  {delta !== undefined && ` (${delta >= 0 ? '+' : ''}${t.percent(delta)})`}
                  {w.sensitivity !== undefined && ` · ${t.t('tree.sensitivity', { value: t.number(w.sensitivity, 2) })}`}
                </p>
              )}
              {isLeaf(n) && (
                <label class="small whatif-input">
                  {t.t('tree.whatIfInput', { name })}{' '}
                  <input
                    type="text" inputMode="decimal" size={10}
                    value={inputs[nid] ?? ''}
                    placeholder={v?.value !== undefined ? String(roundForInput(v.value)) : ''}
                    aria-invalid={invalid.includes(nid) ? 'true' : undefined}
                    onInput={(e) => setInputs({ ...inputs, [nid]: e.currentTarget.value })}
                  />
                </label>
              )}
            </>
          )}
        </div>
        {children.length > 0 && (
          <ul class="kpi-children">
            {children.map((c) => <Node key={c} id={c} depth={depth + 1} />)}
          </ul>
        )}
      </li>
    );
  }

  return (
    <section class="card wide" aria-labelledby="sec-tree">
      <h2 id="sec-tree">{t.t('tree.title')}</h2>
      <ErrorBox error={trees.error ?? evaluation.error} />
      {list.length > 1 && (
        <label>
          {t.t('tree.choose')}{' '}
          <select value={id} onChange={(e) => { setChosen(e.currentTarget.value); reset(); }}>
            {list.map((x) => <option key={x.kpiTreeId} value={x.kpiTreeId}>{x.displayName}</option>)}
          </select>
        </label>
      )}
      {(trees.loading && !trees.data) || (evaluation.loading && !evaluation.data) ? <Loading /> : null}
      {tree && (
        <form onSubmit={simulate}>
          <ul class="kpi-tree">
            {roots(nodes, evaluation.data?.rootId).map((r) => <Node key={r} id={r} depth={0} />)}
          </ul>
          {invalid.length > 0 && (
            <p class="field-error" role="alert">{t.t('tree.invalid', { nodes: invalid.map((x) => nodeName(t, byId.get(x) ?? { id: x })).join(', ') })}</p>
          )}
          <ErrorBox error={whatIfError} />
          <div class="toolbar">
            <button type="submit" disabled={busy || !evaluation.data}>{t.t('tree.simulate')}</button>
            <button type="button" class="secondary" onClick={reset}>{t.t('tree.reset')}</button>
          </div>
          <p class="muted small">{t.t('tree.help')}</p>
        </form>
      )}
    </section>
  );
}

/**
 * nodeName translates the starter tree's node names as long as the user
 * has kept them (the name still equals the English message of its id).
 */
function nodeName(t: I18n, n: TreeNode): string {
  const key = `treeNode.${n.id}`;
  const display = n.displayName || n.id || '';
  return (en as Record<string, string>)[key] === display ? t.tk(key, display) : display;
}

function roundForInput(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 1000) / 1000;
}
