import { describe, expect, it } from 'vitest';
import type { Channel } from '../src/api/types';
import {
  durationOf, emptyJourney, fromJourney, isoToZoned, newExit, zonedToISO, newStep, outline, serverField, splitDuration, toJourney, validate,
  type JourneyForm,
} from '../src/journey/form';

const channels: Channel[] = [
  { channelId: 'ch_mail', type: 'EMAIL', displayName: 'Mail' },
  { channelId: 'ch_hook', type: 'WEBHOOK', displayName: 'Hook' },
];

function sample(): JourneyForm {
  const f = emptyJourney();
  f.displayName = 'Welcome';
  f.entryEvent = 'Signed Up';
  const send = { ...newStep('send', []), channelId: 'ch_mail', subject: 'Hi', text: 'Hello {{ customer.traits.name }}' };
  const wait = { ...newStep('waitFor', [send]), waitEvent: 'Order Completed', amount: '3', unit: 'days' as const, onTimeout: 'step3' };
  const nudge = { ...newStep('send', [send, wait]), channelId: 'ch_hook', text: 'nudge' };
  f.steps = [send, wait, nudge];
  return f;
}

describe('journey form', () => {
  it('converts to the API shape and back', () => {
    const f = sample();
    const j = toJourney(f);
    expect(j.entry).toEqual({ event: { event: 'Signed Up' } });
    expect(j.steps?.[0]).toEqual({ id: 'step1', send: { channelId: 'ch_mail', text: 'Hello {{ customer.traits.name }}', subject: 'Hi' } });
    expect(j.steps?.[1].waitFor).toEqual({ event: { event: 'Order Completed' }, timeout: '259200s', onEvent: '', onTimeout: 'step3' });
    expect(fromJourney(j)).toEqual(f);
  });

  it('keeps reentry, exit rules and a broadcast time in the workspace zone', () => {
    const f = sample();
    f.reentry = 'REENTRY_AFTER_COOLDOWN';
    f.cooldownAmount = '14';
    f.exits = [{ ...newExit(), event: 'Order Completed' }, { ...newExit(), kind: 'unsubscribed', channelType: 'EMAIL' }, { ...newExit(), kind: 'segmentLeft', segmentId: 'seg_1' }];
    const j = toJourney(f, 'Asia/Tokyo');
    expect(j.reentryCooldown).toBe('1209600s');
    expect(j.exitRules).toEqual([
      { event: { event: 'Order Completed' } }, { unsubscribed: { channelType: 'EMAIL' } }, { segmentLeft: { segmentId: 'seg_1' } },
    ]);
    expect(fromJourney(j, 'Asia/Tokyo')).toEqual(f);

    const b = emptyJourney();
    b.entryKind = 'broadcast';
    b.entrySegmentId = 'seg_1';
    b.broadcastStart = '2026-12-24T10:00';
    const bj = toJourney(b, 'Asia/Tokyo');
    expect(bj.entry).toEqual({ broadcast: { segmentId: 'seg_1', startTime: '2026-12-24T01:00:00.000Z' } });
    expect(fromJourney(bj, 'Asia/Tokyo').broadcastStart).toBe('2026-12-24T10:00');
  });

  it('reads wall time in a zone', () => {
    expect(zonedToISO('2026-07-01T09:30', 'Europe/Berlin')).toBe('2026-07-01T07:30:00.000Z');
    expect(zonedToISO('2026-07-01 09:30', 'UTC')).toBeUndefined();
    expect(isoToZoned('2026-07-01T07:30:00Z', 'Europe/Berlin')).toBe('2026-07-01T09:30');
    expect(isoToZoned(undefined, 'UTC')).toBe('');
  });

  it('finds what the server would refuse, by form field', () => {
    const f = sample();
    expect(validate(f, channels)).toEqual([]);
    f.displayName = ' ';
    f.steps[0].subject = '';
    f.steps[1].amount = '0';
    f.steps[1].onTimeout = 'nowhere';
    f.steps[2].id = 'step1';
    expect(validate(f, channels).map((p) => `${p.field}:${p.message}`)).toEqual([
      'displayName:form.required',
      'steps.0.subject:form.required',
      'steps.1.amount:form.positive',
      'steps.1.onTimeout:journey.unknownStep',
      'steps.2.id:journey.duplicateStepId',
    ]);
  });

  it('needs a step and a subject only for e-mail', () => {
    const f = emptyJourney();
    f.displayName = 'x';
    f.entryKind = 'broadcast';
    expect(validate(f, channels).map((p) => p.field)).toEqual(['entrySegmentId', 'steps']);
    const hook = { ...newStep('send', []), channelId: 'ch_hook', text: 't' };
    f.entrySegmentId = 'seg_1';
    f.steps = [hook];
    expect(validate(f, channels)).toEqual([]);
  });

  it('rejects delays over a year', () => {
    const f = sample();
    f.steps[1].amount = '366';
    expect(validate(f, channels).map((p) => p.message)).toEqual(['journey.tooLong']);
    f.steps[1].amount = '1';
    f.reentry = 'REENTRY_AFTER_COOLDOWN';
    f.cooldownAmount = '';
    f.exits = [newExit()];
    expect(validate(f, channels).map((p) => p.field)).toEqual(['cooldownAmount', 'exits.0.event']);
  });

  it('maps server fields onto form fields', () => {
    expect(serverField('journey.steps[2].send.text')).toBe('steps.2.text');
    expect(serverField('journey.steps[1].wait_for.event.event')).toBe('steps.1.waitEvent');
    expect(serverField('journey.steps[0].delay.duration')).toBe('steps.0.amount');
    expect(serverField('journey.display_name')).toBe('displayName');
    expect(serverField('journey.entry.event.event')).toBe('entryEvent');
    expect(serverField('journey.reentry_cooldown')).toBe('cooldownAmount');
    expect(serverField('journey.exit_rules[1].segment_left.segment_id')).toBe('exits.1.segmentId');
    expect(serverField('journey.exit_rules[0].event.event')).toBe('exits.0.event');
    expect(serverField('journey.entry.broadcast.start_time')).toBe('broadcastStart');
    expect(serverField('journey.description')).toBe('');
  });

  it('splits durations into the largest whole unit', () => {
    expect(splitDuration('172800s')).toEqual({ amount: '2', unit: 'days' });
    expect(splitDuration('5400s')).toEqual({ amount: '90', unit: 'minutes' });
    expect(splitDuration('7200s')).toEqual({ amount: '2', unit: 'hours' });
    expect(durationOf('1.5', 'hours')).toBe('5400s');
  });

  it('outlines where each step goes', () => {
    const o = outline(sample());
    expect(o[0].targets).toEqual([{ label: 'journey.next', to: 'step2' }]);
    expect(o[1].targets).toEqual([{ label: 'journey.onEvent', to: '' }, { label: 'journey.onTimeout', to: 'step3' }]);
    expect(o[2].targets).toEqual([{ label: 'journey.next', to: '' }]);
  });

  it('gives new steps unused ids', () => {
    const a = newStep('delay', []);
    const b = { ...newStep('delay', [a]), id: 'step3' };
    expect(newStep('exit', [a, b]).id).toBe('step4');
  });
});
