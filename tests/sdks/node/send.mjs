// Sends identify, track (with a products array) and page with an official SDK, unchanged
// but for the host. Usage: node send.mjs segment|rudderstack HOST WRITE_KEY
const [sdk, host, writeKey] = process.argv.slice(2)

const products = [
  { sku: 'SHOE-1', name: 'Trail shoe', price: 89.9, quantity: 1, category: 'Shoes' },
  { sku: 'SOCK-2', name: 'Wool socks', price: 12.5, quantity: 2, category: 'Socks' },
]

if (sdk === 'segment') {
  const { Analytics } = await import('@segment/analytics-node')
  const analytics = new Analytics({ writeKey, host, maxRetries: 0, flushInterval: 200 })
  const failures = []
  analytics.on('error', (err) => failures.push(err))
  analytics.identify({ userId: 'user-42', traits: { email: 'ada@example.com' } })
  analytics.track({ userId: 'user-42', event: 'Order Completed', properties: { order_id: 'O-1', products } })
  analytics.page({ userId: 'user-42', name: 'Shoes', properties: { url: '/shoes' } })
  await analytics.closeAndFlush({ timeout: 10000 })
  if (failures.length) { console.error(JSON.stringify(failures.map(String))); process.exit(1) }
} else if (sdk === 'rudderstack') {
  const { default: Analytics } = await import('@rudderstack/rudder-sdk-node')
  const client = new Analytics(writeKey, { dataPlaneUrl: host, flushInterval: 200, maxInternalQueueSize: 100, retryCount: 0 })
  client.identify({ userId: 'user-42', traits: { email: 'ada@example.com' } })
  client.track({ userId: 'user-42', event: 'Order Completed', properties: { order_id: 'O-1', products } })
  client.page({ userId: 'user-42', name: 'Shoes', properties: { url: '/shoes' } })
  await new Promise((resolve, reject) => client.flush((err) => (err ? reject(err) : resolve())))
} else {
  console.error(`unknown sdk ${sdk}`)
  process.exit(2)
}
