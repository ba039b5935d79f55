// The journey editor's form model: one flat record per step that the form
// binds to, converted to and from the API's Journey, and checked before
// sending so the common mistakes get a message next to the field. The
// server still validates everything; its answer is shown the same way.
import type { Channel, ChannelType, Journey, Step } from '../api/types';
import type { MessageKey } from '../i18n/i18n';
import { localDate, offsetMs } from '../trend';

export const stepKinds = ['send', 'delay', 'delayUntil', 'waitFor', 'branch', 'exit'] as const;
export type StepKind = (typeof stepKinds)[number];
export const units = ['minutes', 'hours', 'days'] as const;
export type Unit = (typeof units)[number];
const unitSeconds: Record<Unit, number> = { minutes: 60, hours: 3600, days: 86400 };
export const entryKinds = ['event', 'segment', 'broadcast'] as const;
export type EntryKind = (typeof entryKinds)[number];
export const weekdays = ['', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY'] as const;

export interface StepForm {
  id: string;
  kind: StepKind;
  next: string;
  channelId: string;
  subject: string;
  text: string;
  transactional: boolean;
  amount: string;
  unit: Unit;
  localTime: string;
  weekday: string;
  waitEvent: string;
  onEvent: string;
  onTimeout: string;
  branchKind: 'segment' | 'trait';
  segmentId: string;
  traitKey: string;
  traitEquals: string;
  thenStep: string;
  elseStep: string;
}

export const reentries = ['REENTRY_NEVER', 'REENTRY_AFTER_EXIT', 'REENTRY_AFTER_COOLDOWN'] as const;
export type ReentryKind = (typeof reentries)[number];
export const exitKinds = ['event', 'segmentLeft', 'unsubscribed'] as const;
export type ExitKind = (typeof exitKinds)[number];

export interface ExitForm {
  kind: ExitKind;
  event: string;
  segmentId: string;
  channelType: string;
}

export interface JourneyForm {
  displayName: string;
  description: string;
  entryKind: EntryKind;
  entryEvent: string;
  entrySegmentId: string;
  /** A broadcast's start as "YYYY-MM-DDTHH:MM" in the workspace's zone; now when empty. */
  broadcastStart: string;
  reentry: ReentryKind;
  cooldownAmount: string;
  cooldownUnit: Unit;
  exits: ExitForm[];
  steps: StepForm[];
}

export function newStep(kind: StepKind, existing: StepForm[]): StepForm {
  let n = existing.length + 1;
  const ids = new Set(existing.map((s) => s.id));
  while (ids.has(`step${n}`)) n++;
  return {
    id: `step${n}`, kind, next: '', channelId: '', subject: '', text: '', transactional: false,
    amount: '1', unit: 'days', localTime: '10:00', weekday: '', waitEvent: '', onEvent: '', onTimeout: '',
    branchKind: 'segment', segmentId: '', traitKey: '', traitEquals: '', thenStep: '', elseStep: '',
  };
}

export function emptyJourney(): JourneyForm {
  return {
    displayName: '', description: '', entryKind: 'event', entryEvent: '', entrySegmentId: '', broadcastStart: '',
    reentry: 'REENTRY_NEVER', cooldownAmount: '30', cooldownUnit: 'days', exits: [], steps: [],
  };
}

export function newExit(): ExitForm {
  return { kind: 'event', event: '', segmentId: '', channelType: '' };
}

/** zonedToISO reads "YYYY-MM-DDTHH:MM" as wall time in the zone. */
export function zonedToISO(local: string, timeZone: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local);
  if (!m) return undefined;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  let t = wall - offsetMs(wall, timeZone);
  t = wall - offsetMs(t, timeZone);
  return new Date(t).toISOString();
}

/** isoToZoned is the inverse of zonedToISO, for filling the form. */
export function isoToZoned(iso: string | undefined, timeZone: string): string {
  const t = iso ? Date.parse(iso) : NaN;
  if (isNaN(t) || t <= 0) return '';
  const { y, m, d } = localDate(t, timeZone);
  const wall = new Date(t + offsetMs(t, timeZone));
  const p = (n: number) => String(n).padStart(2, '0');
  return `${y}-${p(m)}-${p(d)}T${p(wall.getUTCHours())}:${p(wall.getUTCMinutes())}`;
}

/** durationOf turns an amount and unit into the API's "Ns" duration. */
export function durationOf(amount: string, unit: Unit): string {
  return `${Math.round(Number(amount) * unitSeconds[unit])}s`;
}

/** splitDuration picks the largest unit that divides a "Ns" duration. */
export function splitDuration(d: string | undefined): { amount: string; unit: Unit } {
  const secs = Number((d ?? '').replace(/s$/, ''));
  if (!secs || isNaN(secs)) return { amount: '1', unit: 'days' };
  for (const unit of ['days', 'hours', 'minutes'] as const) {
    if (secs % unitSeconds[unit] === 0) return { amount: String(secs / unitSeconds[unit]), unit };
  }
  return { amount: String(secs / 60), unit: 'minutes' };
}

function stepToApi(s: StepForm): Step {
  const base: Step = { id: s.id.trim() };
  const next = s.next.trim();
  switch (s.kind) {
    case 'send':
      return { ...base, ...(next && { next }), send: {
        channelId: s.channelId, text: s.text, ...(s.subject && { subject: s.subject }),
        ...(s.transactional && { transactional: true }),
      } };
    case 'delay':
      return { ...base, ...(next && { next }), delay: { duration: durationOf(s.amount, s.unit) } };
    case 'delayUntil':
      return { ...base, ...(next && { next }), delayUntil: {
        localTime: s.localTime, ...(s.weekday && { weekday: s.weekday as NonNullable<Step['delayUntil']>['weekday'] }),
      } };
    case 'waitFor':
      return { ...base, waitFor: {
        event: { event: s.waitEvent.trim() }, timeout: durationOf(s.amount, s.unit),
        onEvent: s.onEvent.trim(), onTimeout: s.onTimeout.trim(),
      } };
    case 'branch':
      return { ...base, branch: {
        ...(s.branchKind === 'segment'
          ? { inSegment: { segmentId: s.segmentId } }
          : { trait: s.traitEquals ? { key: s.traitKey.trim(), equals: s.traitEquals } : { key: s.traitKey.trim(), exists: true } }),
        thenStep: s.thenStep.trim(), elseStep: s.elseStep.trim(),
      } };
    case 'exit':
      return { ...base, exit: {} };
  }
}

function exitToApi(e: ExitForm): NonNullable<Journey['exitRules']>[number] {
  switch (e.kind) {
    case 'event':
      return { event: { event: e.event.trim() } };
    case 'segmentLeft':
      return { segmentLeft: { segmentId: e.segmentId } };
    case 'unsubscribed':
      return { unsubscribed: e.channelType ? { channelType: e.channelType as ChannelType } : {} };
  }
}

/** toJourney builds the API's Journey (definition fields only). */
export function toJourney(f: JourneyForm, timeZone = 'Asia/Tokyo'): Journey {
  const start = f.broadcastStart ? zonedToISO(f.broadcastStart, timeZone) : undefined;
  const entry: Journey['entry'] =
    f.entryKind === 'event'
      ? { event: { event: f.entryEvent.trim() } }
      : f.entryKind === 'segment'
        ? { segmentEntered: { segmentId: f.entrySegmentId } }
        : { broadcast: { segmentId: f.entrySegmentId, ...(start && { startTime: start }) } };
  return {
    displayName: f.displayName.trim(), description: f.description, entry,
    reentry: f.reentry,
    ...(f.reentry === 'REENTRY_AFTER_COOLDOWN' && { reentryCooldown: durationOf(f.cooldownAmount, f.cooldownUnit) }),
    exitRules: f.exits.map(exitToApi),
    steps: f.steps.map(stepToApi),
  };
}

function stepFromApi(s: Step): StepForm {
  const f = newStep('exit', []);
  f.id = s.id ?? '';
  f.next = s.next ?? '';
  if (s.send) {
    Object.assign(f, { kind: 'send', channelId: s.send.channelId ?? '', subject: s.send.subject ?? '',
      text: s.send.text ?? '', transactional: !!s.send.transactional });
  } else if (s.delay) {
    Object.assign(f, { kind: 'delay', ...splitDuration(s.delay.duration) });
  } else if (s.delayUntil) {
    Object.assign(f, { kind: 'delayUntil', localTime: s.delayUntil.localTime ?? '',
      weekday: s.delayUntil.weekday && s.delayUntil.weekday !== 'WEEKDAY_UNSPECIFIED' ? s.delayUntil.weekday : '' });
  } else if (s.waitFor) {
    Object.assign(f, { kind: 'waitFor', waitEvent: s.waitFor.event?.event ?? '', ...splitDuration(s.waitFor.timeout),
      onEvent: s.waitFor.onEvent ?? '', onTimeout: s.waitFor.onTimeout ?? '' });
  } else if (s.branch) {
    const t = s.branch.trait;
    Object.assign(f, { kind: 'branch', branchKind: t ? 'trait' : 'segment', segmentId: s.branch.inSegment?.segmentId ?? '',
      traitKey: t?.key ?? '', traitEquals: t?.equals ?? '', thenStep: s.branch.thenStep ?? '', elseStep: s.branch.elseStep ?? '' });
  }
  return f;
}

/** fromJourney fills the form from a stored journey. */
export function fromJourney(j: Journey, timeZone = 'Asia/Tokyo'): JourneyForm {
  const e = j.entry ?? {};
  const cooldown = splitDuration(j.reentryCooldown);
  return {
    displayName: j.displayName ?? '',
    description: j.description ?? '',
    entryKind: e.segmentEntered ? 'segment' : e.broadcast ? 'broadcast' : 'event',
    entryEvent: e.event?.event ?? '',
    entrySegmentId: e.segmentEntered?.segmentId ?? e.broadcast?.segmentId ?? '',
    broadcastStart: isoToZoned(e.broadcast?.startTime, timeZone),
    reentry: j.reentry && j.reentry !== 'REENTRY_UNSPECIFIED' ? j.reentry : 'REENTRY_NEVER',
    cooldownAmount: j.reentryCooldown ? cooldown.amount : '30',
    cooldownUnit: j.reentryCooldown ? cooldown.unit : 'days',
    exits: (j.exitRules ?? []).map((r) => ({
      kind: r.segmentLeft ? 'segmentLeft' : r.unsubscribed ? 'unsubscribed' : 'event',
      event: r.event?.event ?? '',
      segmentId: r.segmentLeft?.segmentId ?? '',
      channelType: r.unsubscribed?.channelType && r.unsubscribed.channelType !== 'CHANNEL_TYPE_UNSPECIFIED' ? r.unsubscribed.channelType : '',
    })),
    steps: (j.steps ?? []).map(stepFromApi),
  };
}

/** A problem found before sending: the form field and its message. */
export interface FormProblem {
  field: string;
  message: MessageKey;
}

const stepIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
const localTimePattern = /^([01]\d|2[0-3]):[0-5]\d$/;

/**
 * validate finds what the server would refuse and a marketer can fix in the
 * form. Field names are the form's (e.g. "steps.1.text"), so each message
 * sits next to its input.
 */
export function validate(f: JourneyForm, channels: Channel[]): FormProblem[] {
  const out: FormProblem[] = [];
  if (!f.displayName.trim()) out.push({ field: 'displayName', message: 'form.required' });
  if (f.entryKind === 'event' && !f.entryEvent.trim()) out.push({ field: 'entryEvent', message: 'form.required' });
  if (f.entryKind !== 'event' && !f.entrySegmentId) out.push({ field: 'entrySegmentId', message: 'form.required' });
  if (f.entryKind === 'broadcast' && f.broadcastStart && !zonedToISO(f.broadcastStart, 'UTC')) {
    out.push({ field: 'broadcastStart', message: 'journey.badDateTime' });
  }
  if (f.reentry === 'REENTRY_AFTER_COOLDOWN') {
    const n = Number(f.cooldownAmount);
    if (!f.cooldownAmount.trim() || isNaN(n) || n <= 0) out.push({ field: 'cooldownAmount', message: 'form.positive' });
  }
  f.exits.forEach((e, i) => {
    if (e.kind === 'event' && !e.event.trim()) out.push({ field: `exits.${i}.event`, message: 'form.required' });
    if (e.kind === 'segmentLeft' && !e.segmentId) out.push({ field: `exits.${i}.segmentId`, message: 'form.required' });
  });
  if (f.steps.length === 0) out.push({ field: 'steps', message: 'journey.needStep' });
  const ids = new Set<string>();
  const allIds = new Set(f.steps.map((s) => s.id.trim()));
  const ref = (field: string, v: string) => {
    if (v.trim() && !allIds.has(v.trim())) out.push({ field, message: 'journey.unknownStep' });
  };
  f.steps.forEach((s, i) => {
    const p = `steps.${i}.`;
    const id = s.id.trim();
    if (!stepIdPattern.test(id)) out.push({ field: p + 'id', message: 'journey.badStepId' });
    else if (ids.has(id)) out.push({ field: p + 'id', message: 'journey.duplicateStepId' });
    ids.add(id);
    if (s.kind === 'send' || s.kind === 'delay' || s.kind === 'delayUntil') ref(p + 'next', s.next);
    const positive = () => {
      const n = Number(s.amount);
      if (!s.amount.trim() || isNaN(n) || n <= 0) out.push({ field: p + 'amount', message: 'form.positive' });
      else if (n * unitSeconds[s.unit] > 365 * 86400) out.push({ field: p + 'amount', message: 'journey.tooLong' });
    };
    switch (s.kind) {
      case 'send': {
        const ch = channels.find((c) => c.channelId === s.channelId);
        if (!ch) out.push({ field: p + 'channelId', message: 'form.required' });
        if (ch?.type === 'EMAIL' && !s.subject.trim()) out.push({ field: p + 'subject', message: 'form.required' });
        if (!s.text.trim()) out.push({ field: p + 'text', message: 'form.required' });
        break;
      }
      case 'delay':
        positive();
        break;
      case 'delayUntil':
        if (!localTimePattern.test(s.localTime)) out.push({ field: p + 'localTime', message: 'journey.badLocalTime' });
        break;
      case 'waitFor':
        if (!s.waitEvent.trim()) out.push({ field: p + 'waitEvent', message: 'form.required' });
        positive();
        ref(p + 'onEvent', s.onEvent);
        ref(p + 'onTimeout', s.onTimeout);
        break;
      case 'branch':
        if (s.branchKind === 'segment' && !s.segmentId) out.push({ field: p + 'segmentId', message: 'form.required' });
        if (s.branchKind === 'trait' && !s.traitKey.trim()) out.push({ field: p + 'traitKey', message: 'form.required' });
        ref(p + 'thenStep', s.thenStep);
        ref(p + 'elseStep', s.elseStep);
        break;
    }
  });
  return out;
}

/**
 * serverField maps a field the server named (e.g. "journey.steps[1].send.text"
 * or "steps[1].send.subject") to the form field it belongs to, so a server
 * error lands next to its input too. Unknown fields map to "".
 */
export function serverField(field: string): string {
  const f = field.replace(/^journey\./, '');
  const m = /^steps\[(\d+)\]\.?(.*)$/.exec(f);
  if (m) {
    const leaf = m[2].split('.').pop() ?? '';
    const map: Record<string, string> = {
      channel_id: 'channelId', channelId: 'channelId', subject: 'subject', text: 'text', id: 'id', next: 'next',
      duration: 'amount', timeout: 'amount', local_time: 'localTime', localTime: 'localTime', event: 'waitEvent',
      on_event: 'onEvent', onEvent: 'onEvent', on_timeout: 'onTimeout', onTimeout: 'onTimeout',
      segment_id: 'segmentId', segmentId: 'segmentId', then_step: 'thenStep', thenStep: 'thenStep',
      else_step: 'elseStep', elseStep: 'elseStep', key: 'traitKey',
    };
    return `steps.${m[1]}.${map[leaf] ?? leaf}`;
  }
  const x = /^exit_?[rR]ules\[(\d+)\]\.(.*)$/.exec(f);
  if (x) return `exits.${x[1]}.${/segment/.test(x[2]) ? 'segmentId' : 'event'}`;
  if (/^display_?[nN]ame$/.test(f)) return 'displayName';
  if (/^reentry_?[cC]ooldown$/.test(f)) return 'cooldownAmount';
  if (f.startsWith('entry.broadcast.start')) return 'broadcastStart';
  if (f.startsWith('entry.event')) return 'entryEvent';
  if (f.startsWith('entry.')) return 'entrySegmentId';
  return '';
}

/** outline lists each step with where it can go next, for the visual outline. */
export function outline(f: JourneyForm): Array<{ id: string; kind: StepKind; targets: Array<{ label: MessageKey; to: string }> }> {
  return f.steps.map((s, i) => {
    const following = f.steps[i + 1]?.id ?? '';
    const end = '';
    let targets: Array<{ label: MessageKey; to: string }>;
    switch (s.kind) {
      case 'waitFor':
        targets = [{ label: 'journey.onEvent', to: s.onEvent || end }, { label: 'journey.onTimeout', to: s.onTimeout || end }];
        break;
      case 'branch':
        targets = [{ label: 'journey.then', to: s.thenStep || end }, { label: 'journey.else', to: s.elseStep || end }];
        break;
      case 'exit':
        targets = [];
        break;
      default:
        targets = [{ label: 'journey.next', to: s.next || following }];
    }
    return { id: s.id, kind: s.kind, targets };
  });
}
