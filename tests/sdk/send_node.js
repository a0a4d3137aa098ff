// Sends one identify, track, page, screen, group and alias through
// @segment/analytics-node to a seglab server, flushes, and prints a JSON report
// on stdout: the messageIds sent, delivery errors, and every HTTP attempt the
// SDK made (status, or the network error).
//
// Usage: node send_node.js '<json config>'
//   config: { host, writeKey, anonymousId, userId, newUserId, groupId, runId,
//             maxRetries?, httpRequestTimeout?, flushTimeout? }
'use strict'

const { Analytics } = require('@segment/analytics-node')

async function main() {
  const cfg = JSON.parse(process.argv[2] || process.env.SEGLAB_NODE_CONFIG || '{}')
  for (const k of ['host', 'writeKey', 'anonymousId', 'userId', 'newUserId', 'groupId', 'runId']) {
    if (!cfg[k]) throw new Error(`missing config key ${k}`)
  }

  const analytics = new Analytics({
    writeKey: cfg.writeKey,
    host: cfg.host,
    maxRetries: cfg.maxRetries ?? 3,
    httpRequestTimeout: cfg.httpRequestTimeout ?? 10000,
    // One batch for all six calls, sent by closeAndFlush().
    flushAt: 50,
    flushInterval: 10000,
  })

  const report = { messageIds: [], errors: [], attempts: [] }
  analytics.on('http_request', () => report.attempts.push({ kind: 'request' }))
  analytics.on('http_response', (r) => report.attempts.push({ kind: 'response', status: r.status }))
  analytics.on('error', (err) => report.errors.push(String(err && (err.reason || err.message || err))))

  const mid = (name) => {
    const id = `node-${name}-${cfg.runId}`
    report.messageIds.push(id)
    return id
  }
  const done = (err) => {
    if (err) report.errors.push(String(err.reason || err.message || err))
  }

  const { anonymousId, userId, newUserId, groupId, runId } = cfg

  analytics.track(
    {
      anonymousId,
      event: 'Product Viewed',
      properties: { product_id: `p-${runId}`, price: 19.99, currency: 'EUR' },
      messageId: mid('track-anon'),
    },
    done,
  )
  analytics.identify(
    {
      userId,
      anonymousId,
      traits: { email: `${userId}@example.com`, plan: 'pro', logins: 3 },
      messageId: mid('identify'),
    },
    done,
  )
  analytics.track(
    {
      userId,
      event: 'Order Completed',
      properties: { order_id: `o-${runId}`, revenue: 42.5, currency: 'EUR', products: [{ sku: 'sku-1', quantity: 2 }] },
      messageId: mid('track'),
    },
    done,
  )
  analytics.page(
    {
      userId,
      anonymousId,
      category: 'Docs',
      name: 'Pricing',
      properties: { url: 'https://example.com/pricing', title: 'Pricing' },
      messageId: mid('page'),
    },
    done,
  )
  analytics.screen(
    { userId, name: 'Home', properties: { variant: 'b' }, messageId: mid('screen') },
    done,
  )
  analytics.group(
    { userId, groupId, traits: { name: `Acme ${runId}`, employees: 11 }, messageId: mid('group') },
    done,
  )
  analytics.alias({ previousId: userId, userId: newUserId, messageId: mid('alias') }, done)

  await analytics.closeAndFlush({ timeout: cfg.flushTimeout ?? 30000 })
  process.stdout.write(JSON.stringify(report) + '\n')
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + '\n')
  process.exit(1)
})
