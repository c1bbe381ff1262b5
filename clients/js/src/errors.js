// The contract's error codes, as they reach a client: a HubException's message starts with the code, and SignalR
// wraps it ("An unexpected error occurred invoking 'X' on the server. HubException: not_found: ..."), so the code is
// matched anywhere in the message.

const ERROR_CODES = ['invalid_argument', 'not_found', 'conflict', 'rate_limited', 'too_large', 'unavailable'];

const CODE_PATTERN = new RegExp(`\\b(${ERROR_CODES.join('|')}):`);
const RETRY_AFTER_PATTERN = /retry after (\d+) s\b/;

/** A refusal or failure of a call, its message starting at the contract's code ("not_found: ..."). */
export class AgentError extends Error {
  /**
   * @param {string | null} code one of the contract's codes, or null for a failure the contract does not name.
   * @param {string} message the text after the code.
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(code ? `${code}: ${message}` : message, options);
    this.name = 'AgentError';
    this.code = code;
    const retryAfter = code === 'rate_limited' ? RETRY_AFTER_PATTERN.exec(message) : null;
    if (retryAfter) {
      this.retryAfterMs = Number(retryAfter[1]) * 1000;
    }
  }

  /** The AgentError an error from SignalR stands for; `fallbackCode` when its message carries no code. */
  static from(error, fallbackCode = null) {
    if (error instanceof AgentError) {
      return error;
    }

    const text = String(error?.message ?? error ?? '');
    const match = CODE_PATTERN.exec(text);
    if (match) {
      return new AgentError(match[1], text.slice(match.index + match[0].length).trim(), { cause: error });
    }

    return new AgentError(fallbackCode, text, { cause: error });
  }
}

/** The contract's error code in an error (an AgentError or one straight from SignalR), or null when it has none. */
export function errorCode(error) {
  if (error instanceof AgentError) {
    return error.code;
  }

  const match = CODE_PATTERN.exec(String(error?.message ?? error ?? ''));
  return match ? match[1] : null;
}
