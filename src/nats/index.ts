// sluice/nats: the pressure signal bus over NATS core (@nats-io/transport-node, an optional peer dependency).

export * from './jetstream-consumer.ts';
export {
  type NatsConnectionLike,
  type NatsMessageLike,
  type NatsPressureTransportOptions,
  natsPressureTransport,
} from './transport.ts';
