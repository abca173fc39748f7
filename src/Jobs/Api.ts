// The jobs read side: jobs, their nodes and their events.
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { StoredEvent } from "../Domain/Events.ts"
import { Job, JobNode, JobStatus, NodeStatus } from "../Domain/Job.ts"
import { Cursor, Limit, Page } from "../Domain/Page.ts"
import { BadRequest, Conflict, NotFound } from "../Domain/Problem.ts"
import { Authentication } from "../Tenancy.ts"

const JobPath = Schema.Struct({ job_id: Schema.String })

export class JobsApi extends HttpApiGroup.make("jobs")
  .add(
    HttpApiEndpoint.get("list", "/v1/jobs")
      .setUrlParams(Schema.Struct({
        dataset_id: Schema.optional(Schema.String),
        status: Schema.optional(JobStatus),
        limit: Schema.optional(Limit),
        cursor: Schema.optional(Cursor)
      }))
      .addSuccess(Page(Job))
      .annotate(OpenApi.Summary, "Jobs, newest first, by dataset and status")
  )
  .add(
    HttpApiEndpoint.get("get", "/v1/jobs/:job_id")
      .setPath(JobPath)
      .addSuccess(Job)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One job with node counts by status")
  )
  .add(
    HttpApiEndpoint.post("cancel", "/v1/jobs/:job_id/cancel")
      .setPath(JobPath)
      .addSuccess(Job)
      .addError(NotFound)
      .addError(Conflict)
      .annotate(OpenApi.Summary, "Cancel a job: no new leases, running workers told at heartbeat, ends cancelled")
  )
  .add(
    HttpApiEndpoint.get("nodes", "/v1/jobs/:job_id/nodes")
      .setPath(JobPath)
      .setUrlParams(Schema.Struct({
        status: Schema.optional(NodeStatus),
        kind: Schema.optional(Schema.String),
        limit: Schema.optional(Limit),
        cursor: Schema.optional(Cursor)
      }))
      .addSuccess(Page(JobNode))
      .addError(NotFound)
      .annotate(OpenApi.Summary, "The job's computation nodes in graph order")
  )
  .add(
    HttpApiEndpoint.get("events", "/v1/jobs/:job_id/events")
      .setPath(JobPath)
      .setUrlParams(Schema.Struct({
        limit: Schema.optional(Limit),
        cursor: Schema.optional(Cursor),
        follow: Schema.optional(Schema.BooleanFromString)
      }))
      .addSuccess(Page(StoredEvent))
      .addError(BadRequest)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "The job's events in order; `?follow=true` streams them (Server-Sent Events)")
      .annotate(
        OpenApi.Description,
        "With `follow=true` the answer is `text/event-stream`: every event after `Last-Event-ID` (or after " +
          "`cursor`, or from the start) as `id: <stream_version>`, `event: <type>`, `data: <the event as JSON>`, " +
          "then each new one as it commits, ending after the job's terminal event (JobSucceeded, JobFailed, " +
          "JobCancelled). A reconnect with the last id received resumes without a gap or a repeat; reconnecting " +
          "to a finished job with nothing left answers 204 so EventSource stops. A comment line every 15 s keeps " +
          "idle connections open."
      )
  )
  .add(
    HttpApiEndpoint.get("graph", "/v1/jobs/:job_id/graph")
      .setPath(JobPath)
      .setUrlParams(Schema.Struct({ format: Schema.optional(Schema.Literal("mermaid", "dot")) }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/plain; charset=utf-8" }))
      .addError(NotFound)
      .annotate(OpenApi.Summary, "The job's graph as a picture: Mermaid (default) or Graphviz DOT")
      .annotate(
        OpenApi.Description,
        "Fits are grouped per family and sweep points into one box, each box with its node count and the count per " +
          "status, coloured by what is happening (leased, ready, pending, then succeeded/failed), so a 10,000-node " +
          "graph still reads."
      )
  )
  .middleware(Authentication)
{}
