// Wake-ups for followers of a job's events: after a transaction that appended to a job commits, the
// job's id is published here so an SSE follower in this process reads at once instead of at its next
// poll. Other replicas' writes are found by the poll; a signal is only ever a hint.
import { Effect, PubSub, Queue, type Scope } from "effect"

export class JobSignals extends Effect.Service<JobSignals>()("JobSignals", {
  effect: Effect.gen(function*() {
    const hub = yield* PubSub.sliding<string>(4096)

    const publish = (jobIds: Iterable<string>) => PubSub.publishAll(hub, jobIds).pipe(Effect.asVoid)

    /**
     * Subscribes now (so nothing published from here on is missed) and returns a wait: it ends when
     * `jobId` is signalled, or after `timeoutMillis` at the latest.
     */
    const subscribe = (jobId: string): Effect.Effect<(timeoutMillis: number) => Effect.Effect<void>, never, Scope.Scope> =>
      Effect.map(PubSub.subscribe(hub), (queue) => (timeoutMillis: number) =>
        Queue.take(queue).pipe(
          Effect.repeat({ until: (id) => id === jobId }),
          Effect.asVoid,
          Effect.timeoutTo({ duration: timeoutMillis, onTimeout: () => undefined, onSuccess: () => undefined })
        ))

    return { publish, subscribe } as const
  })
}) {}
