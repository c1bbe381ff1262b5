// AG-UI's HttpAgent as a client would use it against this service: HttpAgent leaves connect() to the server's
// route, so reconnecting is a small subclass that fetches /api/agui/{threadId}/connect with AG-UI's own request and
// SSE parsing; getCapabilities() reads what the service advertises.
import { HttpAgent, runHttpRequest, transformHttpEventStream } from '@ag-ui/client';

export class ResumableHttpAgent extends HttpAgent {
  async getCapabilities() {
    return (await fetch(`${this.url}/capabilities`, { headers: this.headers })).json();
  }

  connect(input) {
    const url = `${this.url}/${encodeURIComponent(input.threadId)}/connect`;
    return transformHttpEventStream(runHttpRequest(() => this.fetch(url, { method: 'GET', headers: { ...this.headers, Accept: 'text/event-stream' }, signal: this.abortController.signal })));
  }
}
