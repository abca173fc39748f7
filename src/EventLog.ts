// The append-only event log. Appends run inside the caller's transaction, so an event and its
// projection commit together or not at all.
import { SqlClient } from "@effect/sql"
import { Effect, Schema } from "effect"
import { currentSchemaVersion, DomainEvent, type EventMetadata, StoredEvent } from "./Domain/Events.ts"

export interface NewEvent {
  readonly streamId: string
  /** The version this event will have in its stream; a clash means another writer won (optimistic concurrency). */
  readonly streamVersion: number
  readonly event: DomainEvent
  readonly metadata: EventMetadata
}

const encodeEvent = Schema.encodeSync(DomainEvent)

interface EventRow {
  readonly position: string
  readonly stream_id: string
  readonly stream_version: number
  readonly type: string
  readonly schema_version: number
  readonly data: unknown
  readonly recorded_at: Date
}

const toStored = (r: EventRow) =>
  new StoredEvent({
    position: Number(r.position),
    stream_id: r.stream_id,
    stream_version: r.stream_version,
    type: r.type,
    schema_version: r.schema_version,
    data: r.data,
    recorded_at: r.recorded_at.toISOString()
  })

export class EventLog extends Effect.Service<EventLog>()("EventLog", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Appends in order; returns each event's global position. One statement for the whole batch. */
    const append = Effect.fn("EventLog.append")(function*(events: ReadonlyArray<NewEvent>) {
      if (events.length === 0) return [] as Array<number>
      const payload = events.map((e) => {
        const { _tag, ...data } = encodeEvent(e.event) as { _tag: DomainEvent["_tag"] }
        return {
          stream_id: e.streamId,
          stream_version: e.streamVersion,
          type: _tag,
          schema_version: currentSchemaVersion[_tag],
          data,
          metadata: e.metadata
        }
      })
      const rows = yield* sql<{ position: string }>`
        INSERT INTO events (stream_id, stream_version, type, schema_version, data, metadata)
        SELECT e.doc->>'stream_id', (e.doc->>'stream_version')::int, e.doc->>'type',
               (e.doc->>'schema_version')::int, e.doc->'data', e.doc->'metadata'
        FROM jsonb_array_elements(${JSON.stringify(payload)}::jsonb) WITH ORDINALITY AS e(doc, ord)
        ORDER BY e.ord
        RETURNING position`
      return rows.map((r) => Number(r.position))
    })

    const streamEvents = Effect.fn("EventLog.stream")(function*(streamId: string) {
      const rows = yield* sql<EventRow>`
        SELECT position, stream_id, stream_version, type, schema_version, data, recorded_at
        FROM events WHERE stream_id = ${streamId} ORDER BY stream_version`
      return rows.map(toStored)
    })

    return { append, streamEvents } as const
  })
}) {}
