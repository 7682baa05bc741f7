// Drives studio's `POST /api/ai/chat` exactly as a React `useChat` does, with the real Vercel AI
// SDK (`ai`, pinned in package.json) and no adapter: a `DefaultChatTransport` pointed at
// `<base>/api/ai/chat` with a bearer header, its UI message chunks read back into the assistant
// `UIMessage` by `readUIMessageStream`, and (mode `chat`, the default) the SDK's own chat state
// machine, `AbstractChat` (what `useChat` wraps), with a few-line in-memory state in place of
// React's.
//
//   node chat.mjs <base-url> <bearer-token> '<request JSON>'
//
// Request fields (all optional but `text`):
//   text        the user's message
//   mode        `chat` (default): `chat.sendMessage({text})` through `AbstractChat`, the
//               transport's chunk stream teed to `readUIMessageStream` on the way;
//               `transport`: `transport.sendMessages({chatId, messages, trigger:
//               'submit-message', messageId: undefined, abortSignal})` then `readUIMessageStream`
//   chatId      the chat's id (default: a random one)
//   history     earlier UIMessages (`{id, role, parts}`) to send before the new one
//   body        extra request body fields, as `useChat`'s transport `body` option adds them
//               (e.g. `{"model": "…"}`)
//   timeoutMs   abort after this long (default 30000)
//
// Prints one JSON line:
//   {mode, text, parts, chunkTypes, chunks, metadata, messageId, status, error, errors,
//    chatError, chatText, chatMessages, headers, httpStatus}
// `text`/`parts`/`metadata` are the final assistant message of `readUIMessageStream`; `chunks`
// every UI message chunk the transport yielded, in order; `error` the first error the SDK
// reported (a stream `error` chunk, an HTTP error, a thrown one), as its message (`errors`: all
// of them, each message once: a broken stream would add a second); `status` the chat's final
// status (`ready` or `error`; in mode `transport`, `ready` unless there was an error);
// `chatText`/`chatError` what the chat state holds; `headers` a few response headers, seen by a
// fetch that only observes. Exits 0 whenever it could print that line.

import { AbstractChat, DefaultChatTransport, readUIMessageStream } from 'ai'

const [base, token, requestJson] = process.argv.slice(2)
if (!base || !token) {
  console.error("usage: node chat.mjs <base-url> <bearer-token> '<request JSON>'")
  process.exit(2)
}
const request = JSON.parse(requestJson ?? '{}')
const mode = request.mode ?? 'chat'
const chatId = request.chatId ?? `chat-${Math.random().toString(36).slice(2)}`
const timeout = AbortSignal.timeout(request.timeoutMs ?? 30000)

const chunks = []
const errors = []
const seen = { headers: {}, httpStatus: null }
const noteError = err => {
  const message = err instanceof Error ? err.message : String(err)
  if (!errors.includes(message)) errors.push(message)
}

// Observes the response (status and the protocol headers); changes nothing.
const observingFetch = async (url, init) => {
  const response = await fetch(url, init)
  seen.httpStatus = response.status
  for (const name of ['content-type', 'x-cache', 'x-vercel-ai-ui-message-stream']) {
    seen.headers[name] = response.headers.get(name)
  }
  return response
}

/** The transport `useChat({transport: new DefaultChatTransport({...})})` would use. */
class ObservedTransport extends DefaultChatTransport {
  constructor(onStream) {
    super({
      api: `${base.replace(/\/$/, '')}/api/ai/chat`,
      headers: { Authorization: `Bearer ${token}` },
      body: request.body,
      fetch: observingFetch,
    })
    this.onStream = onStream
  }

  // The SDK's own stream, teed: one branch goes back to the caller (the chat), the other to
  // `readUIMessageStream` and the chunk log.
  async sendMessages(options) {
    const stream = await super.sendMessages(options)
    const [forCaller, forReader] = stream.tee()
    this.onStream(forReader)
    return forCaller
  }
}

/** Every chunk of `stream`, recorded, into `readUIMessageStream`; the last message it built. */
async function readFinalMessage(stream) {
  const recorded = stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        chunks.push(chunk)
        controller.enqueue(chunk)
      },
    }),
  )
  let last
  for await (const message of readUIMessageStream({ stream: recorded, onError: noteError })) {
    last = message
  }
  return last
}

/** `useChat`'s state without React: plain fields, immutable updates as React's state does. */
class MemoryChatState {
  constructor(messages = []) {
    this.status = 'ready'
    this.error = undefined
    this.messages = messages
  }
  pushMessage = message => {
    this.messages = this.messages.concat(message)
  }
  popMessage = () => {
    this.messages = this.messages.slice(0, -1)
  }
  replaceMessage = (index, message) => {
    this.messages = [
      ...this.messages.slice(0, index),
      this.snapshot(message),
      ...this.messages.slice(index + 1),
    ]
  }
  snapshot = thing => structuredClone(thing)
}

class Chat extends AbstractChat {
  constructor({ messages, ...init }) {
    super({ ...init, state: new MemoryChatState(messages) })
  }
}

const textOf = message =>
  (message?.parts ?? [])
    .filter(part => part.type === 'text')
    .map(part => part.text)
    .join('')

let final
let status = null
let chatError = null
let chatText = null
let chatMessages = null
try {
  if (mode === 'transport') {
    const transport = new ObservedTransport(() => {})
    const userMessage = {
      id: `user-${Math.random().toString(36).slice(2)}`,
      role: 'user',
      parts: [{ type: 'text', text: request.text }],
    }
    const stream = await transport.sendMessages({
      chatId,
      messages: [...(request.history ?? []), userMessage],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: timeout,
    })
    final = await readFinalMessage(stream)
    status = errors.length ? 'error' : 'ready'
  } else if (mode === 'chat') {
    let reading = Promise.resolve(undefined)
    const transport = new ObservedTransport(stream => {
      reading = readFinalMessage(stream)
    })
    const chat = new Chat({ id: chatId, transport, messages: request.history ?? [] })
    const onAbort = () => chat.stop()
    timeout.addEventListener('abort', onAbort)
    // Resolves once the response is over (the chat catches its own errors into its state).
    await chat.sendMessage({ text: request.text })
    timeout.removeEventListener('abort', onAbort)
    final = await reading
    status = chat.status
    chatError = chat.error?.message ?? null
    if (chatError) noteError(chat.error)
    const lastMessage = chat.messages.at(-1)
    chatText = lastMessage?.role === 'assistant' ? textOf(lastMessage) : null
    chatMessages = chat.messages.map(m => ({ role: m.role, text: textOf(m), metadata: m.metadata ?? null }))
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
} catch (err) {
  noteError(err)
  status = 'error'
}

console.log(
  JSON.stringify({
    mode,
    text: textOf(final),
    parts: final?.parts ?? [],
    chunkTypes: chunks.map(chunk => chunk.type),
    chunks,
    metadata: final?.metadata ?? null,
    messageId: final?.id ?? null,
    status,
    error: errors[0] ?? null,
    errors,
    chatError,
    chatText,
    chatMessages,
    headers: seen.headers,
    httpStatus: seen.httpStatus,
  }),
)
