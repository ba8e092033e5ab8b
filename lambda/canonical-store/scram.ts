/**
 * SCRAM-SHA-256 password verifiers, so CREATE ROLE never carries a plain-text password
 * (statement logging would otherwise write it to the database logs).
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'crypto';

const ITERATIONS = 4096;

export function scramSha256Verifier(password: string, salt = randomBytes(16)): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
