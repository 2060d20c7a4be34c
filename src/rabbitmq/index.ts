// sluice/rabbitmq: RabbitMQ integrations (amqplib, an optional peer dependency).

export {
  type AmqpChannel,
  type AmqpConfirmChannel,
  type AmqpConnection,
  type AmqpMessage,
  type AmqpPublishOptions,
  type RabbitmqConsumerOptions,
  type RabbitmqDeadLetter,
  type RabbitmqMessage,
  rabbitmqConsumer,
} from './consumer.ts';
