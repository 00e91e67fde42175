// An upstream for valmesh's interoperability test that handles W3C Trace
// Context with OpenTelemetry's own JavaScript implementation.
//
//   node upstream.js serve    HTTP server on 127.0.0.1 (ephemeral port); it
//                             prints "listening on 127.0.0.1:PORT", answers
//                             GET /health, and answers any other request with
//                             the context W3CTraceContextPropagator extracted
//                             and the parent of a span the SDK started in it.
//   node upstream.js inject   prints one JSON line with the headers the
//                             propagator injects for a new SDK span (a child
//                             of a remote parent carrying a tracestate).
'use strict';

const http = require('http');
const api = require('@opentelemetry/api');
const { W3CTraceContextPropagator, TraceState } = require('@opentelemetry/core');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');

const propagator = new W3CTraceContextPropagator();
const tracer = new BasicTracerProvider().getTracer('valmesh-interop');

function parentOf(span) {
  // sdk-trace-base 2.x keeps the parent's context; 1.x kept its id.
  if (span.parentSpanContext) return span.parentSpanContext.spanId;
  return span.parentSpanId;
}

function serve() {
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"status":"ok"}');
    }
    const ctx = propagator.extract(api.ROOT_CONTEXT, req.headers,
                                   api.defaultTextMapGetter);
    const parent = api.trace.getSpanContext(ctx);
    const span = tracer.startSpan('upstream ' + req.url, {}, ctx);
    const own = span.spanContext();
    const body = {
      received: {
        traceparent: req.headers.traceparent || null,
        tracestate: req.headers.tracestate || null,
      },
      extracted: parent ? {
        traceId: parent.traceId,
        spanId: parent.spanId,
        traceFlags: parent.traceFlags,
        isRemote: parent.isRemote === true,
        traceState: parent.traceState ? parent.traceState.serialize() : null,
      } : null,
      sdkSpan: { traceId: own.traceId, spanId: own.spanId,
                 parentSpanId: parentOf(span) || null },
    };
    span.end();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1', () => {
    console.log('listening on 127.0.0.1:' + server.address().port);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

function inject() {
  const remote = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: api.TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=opaque,other=1'),
  };
  const parentCtx = api.trace.setSpanContext(api.ROOT_CONTEXT, remote);
  const span = tracer.startSpan('client', { kind: api.SpanKind.CLIENT },
                                parentCtx);
  const carrier = {};
  propagator.inject(api.trace.setSpan(parentCtx, span), carrier,
                    api.defaultTextMapSetter);
  const own = span.spanContext();
  span.end();
  console.log(JSON.stringify({ headers: carrier, traceId: own.traceId,
                               spanId: own.spanId }));
}

const mode = process.argv[2];
if (mode === 'serve') serve();
else if (mode === 'inject') inject();
else {
  console.error('usage: node upstream.js serve|inject');
  process.exit(2);
}
