/**
 * HTTP/1.x exchanges for replay. The analyzer decodes HTTP/1 only as start
 * lines and headers today (issue 11 brings the full decoder); until then no
 * HTTP/1 exchange is planned, and HTTP/1 connections are reported as such.
 */
import type { FrameEvent } from '../analyze/types';
import type { RecordedExchange } from './plan';

export function http1Exchanges(): { tap: (events: Iterable<FrameEvent>) => Generator<FrameEvent>; done: () => RecordedExchange[] } {
  return {
    *tap(events) {
      yield* events;
    },
    done: () => [],
  };
}
