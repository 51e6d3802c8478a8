package streams

// Header names of an event message (DESIGN §1). They are the wire contract:
// other services read them.
const (
	HeaderMsgID         = "Nats-Msg-Id"
	HeaderType          = "Es-Type"
	HeaderVersion       = "Es-Version"
	HeaderSchema        = "Es-Schema"
	HeaderTime          = "Es-Time"
	HeaderCommandID     = "Es-Command-Id"
	HeaderCorrelationID = "Es-Correlation-Id"
	HeaderCausationID   = "Es-Causation-Id"
	// HeaderTraceParent and HeaderTraceState carry the W3C trace context
	// (https://www.w3.org/TR/trace-context/) of the command that appended
	// the event, so that whoever handles the event continues its trace.
	// Lower case, as the W3C names them: NATS headers are case-sensitive.
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"

	// headerExpectedLastSubjectSeq is the JetStream optimistic concurrency
	// header.
	headerExpectedLastSubjectSeq = "Nats-Expected-Last-Subject-Sequence"
)

// JetStream API error codes the store interprets.
const (
	errCodeWrongLastSequence         = 10071 // JSStreamWrongLastSequenceErrF
	errCodeWrongLastSequenceConstant = 10164 // clustered streams and batches
	errCodeAtomicDuplicate           = 10201 // JSAtomicPublishContainsDuplicateMessageErr
	errCodeBatchTooLarge             = 10199 // JSAtomicPublishTooLargeBatchErrF
	// errCodeDuplicateInProcess: a clustered stream is still proposing a
	// message with the same id (a twin's append in flight); its outcome is
	// not known yet.
	errCodeDuplicateInProcess = 10158 // JSStreamDuplicateMessageConflict
	errCodeMaxConsumers       = 10026 // JSMaximumConsumersLimitErr
)
