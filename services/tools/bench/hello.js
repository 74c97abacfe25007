// The baseline: a bare Express hello-world, nothing else (no logging, no metrics, no auth).
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.get('/hello', (req, res) => {
  res.json({ hello: 'world' });
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
