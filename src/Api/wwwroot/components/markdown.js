// The model's text as markdown: marked turns it into HTML, DOMPurify cleans that HTML before it is parsed into
// the page. Raw HTML the model writes is not rendered at all but shown as the characters it wrote (so markup
// echoed from a user's message stays text, as it does in the user's own bubble).
import { Marked } from 'marked';
import DOMPurify from 'dompurify';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = text => String(text).replace(/[&<>"']/g, c => ESCAPES[c]);

const markdown = new Marked({
  gfm: true,
  // Chat models end lines where they mean a line break; standard markdown would join them into one line.
  breaks: true,
  renderer: {
    html: ({ text, block }) => (block ? `<p>${escapeHtml(text)}</p>` : escapeHtml(text)),
    // Shown, an image is fetched at once: a prompt-injected model could put the conversation in its URL. It
    // becomes a link, which is fetched only if the user follows it.
    image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
  },
});

// An instance of its own, so its hook is the page's markdown policy and nobody else's.
const purify = DOMPurify(window);
purify.addHook('afterSanitizeAttributes', node => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/**
 * Markdown shown in `element`, rendered again as the text grows. The whole text is lexed (cheap), but only the
 * blocks from the first one whose source changed are rendered, sanitized and replaced: while a message streams
 * that is its last block, so the blocks above it (and a selection in them) stay as they are.
 */
export class MarkdownView {
  #element;
  #blocks = []; // { raw, nodes }, one per top-level token
  #links = '{}';
  #source = null;

  constructor(element) {
    this.#element = element;
  }

  /** Shows `text`; the same text again costs nothing (views call this on every update of their item). */
  render(text) {
    if (text === this.#source) {
      return;
    }

    this.#source = text;
    const tokens = markdown.lexer(text ?? '');
    // A reference definition that arrives later changes blocks above it whose source did not change.
    const links = JSON.stringify(tokens.links ?? {});
    let first = 0;
    if (links === this.#links) {
      while (first < tokens.length && first < this.#blocks.length && this.#blocks[first].raw === tokens[first].raw) {
        first++;
      }
    }

    this.#links = links;
    for (const block of this.#blocks.splice(first)) {
      for (const node of block.nodes) {
        node.remove();
      }
    }

    for (const token of tokens.slice(first)) {
      const fragment = purify.sanitize(markdown.parser([token]), { RETURN_DOM_FRAGMENT: true });
      this.#blocks.push({ raw: token.raw, nodes: [...fragment.childNodes] });
      this.#element.append(fragment);
    }
  }
}
