/**
 * Message priorities: higher goes first, 0 is the default. Brokers and producers spell them as numbers
 * (AMQP's priority property, 0-255) or as sluice's criticality names in a header or field.
 */
const named: Readonly<Record<string, number>> = {
  critical: 2,
  high: 1,
  normal: 0,
  low: -1,
  sheddable: -2,
};

/**
 * A priority from a header or field value: a finite number (or numeric string), or a criticality name
 * (`critical` 2, `high` 1, `normal` 0, `low` -1, `sheddable` -2, any case). `undefined` for anything else.
 */
export function parsePriority(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Uint8Array) value = new TextDecoder().decode(value);
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  const n = Number(text);
  if (Number.isFinite(n)) return n;
  return named[text.toLowerCase()];
}
