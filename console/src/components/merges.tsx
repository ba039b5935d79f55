import { useState } from 'preact/hooks';
import type { Merge } from '../api/types';
import { useApp } from '../app';
import { useI18n } from '../i18n/i18n';
import { href } from '../router';
import { Empty, ErrorBox, enumLabel } from './ui';

export function CustomerLink({ id }: { id?: string }) {
  if (!id) return <span>—</span>;
  return <a class="id" href={href({ view: 'customers', customerId: id })}>{id}</a>;
}

/** MergeTable lists merges with an undo button on those still applied. */
export function MergeTable({ merges, onUndone }: { merges: Merge[]; onUndone(): void }) {
  const t = useI18n();
  const { api } = useApp();
  const [error, setError] = useState<unknown>();
  const [status, setStatus] = useState('');
  const undo = async (m: Merge) => {
    if (!confirm(t.t('merge.confirmUndo'))) return;
    setError(undefined);
    try {
      await api.post(`/v1/merges/${encodeURIComponent(m.mergeId ?? '')}:undo`);
      setStatus(t.t('merge.undone'));
      onUndone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <ErrorBox error={error} />
      <p class="sr-only" aria-live="polite">{status}</p>
      {merges.length === 0 ? <Empty>{t.t('merge.none')}</Empty> : (
        <table>
          <thead><tr>
            <th scope="col">{t.t('merge.time')}</th><th scope="col">{t.t('merge.source')}</th>
            <th scope="col">{t.t('merge.survivor')}</th><th scope="col">{t.t('merge.merged')}</th>
            <th scope="col">{t.t('merge.state')}</th><th scope="col"><span class="sr-only">{t.t('common.actions')}</span></th>
          </tr></thead>
          <tbody>
            {merges.map((m) => (
              <tr key={m.mergeId} data-merge={m.mergeId}>
                <td>{t.dateTime(m.mergeTime)}</td>
                <td>{enumLabel(t, 'mergeSource', m.source)}</td>
                <td><CustomerLink id={m.survivorCustomerId} /></td>
                <td>{(m.mergedCustomerIds ?? []).map((id) => <CustomerLink key={id} id={id} />)}</td>
                <td>{enumLabel(t, 'mergeState', m.state)}</td>
                <td>
                  {m.state === 'MERGE_STATE_APPLIED' && (
                    <button type="button" class="secondary" onClick={() => undo(m)}>{t.t('merge.undo')}</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
