import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** NodeRequest is an HTTP/1.1 or HTTP/2 request as Node's request handlers get it. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/** NodeResponse is the response of a NodeRequest. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/** RequestHandler serves HTTP/2 and HTTP/1.1 requests alike. */
export type RequestHandler = (request: NodeRequest, response: NodeResponse) => void;
