/**
 * Loading profiles from a JSON file. YAML is the caller's business (this
 * package imports no YAML parser): parse it, then call `validateProfiles`.
 */
import { readFileSync } from 'node:fs';
import { ProfileError } from './errors.ts';
import type { DeviceProfile } from './profile.ts';
import { validateProfiles } from './profile-validate.ts';

export function loadProfilesJson(path: string): DeviceProfile[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ProfileError(path, 'cannot be read', { cause: e });
  }
  let data: unknown;
  try {
    data = JSON.parse(text) as unknown;
  } catch (e) {
    throw new ProfileError(path, 'is not valid JSON', { cause: e });
  }
  return validateProfiles(data);
}
