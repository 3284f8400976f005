/** Notify: signed webhooks (outbox hook, dispatcher, signatures). The composition root wires these. */
export { DEFAULT_BACKOFF_MS, DEFAULT_MAX_ATTEMPTS, retryDelay } from './backoff.js';
export { WebhookDispatcher, type WebhookDispatcherOptions } from './dispatcher.js';
export { eventOfChange, subscribes, type WebhookEvent } from './event.js';
export { enqueueDeliveries, webhookOutboxHook } from './outbox.js';
export { newWebhookSecret, signatureHeader, verifySignature } from './signing.js';
