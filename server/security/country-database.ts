import { readFileSync } from "node:fs";
import { Reader, type Response } from "maxmind";

// GeoIP2 and GeoLite2 Country databases put the code at country.iso_code; others (such as the
// ip-location-db ones) at country_code.
interface CountryRecord {
  readonly country?: { readonly iso_code?: string };
  readonly registered_country?: { readonly iso_code?: string };
  readonly country_code?: string;
}

/**
 * openCountryDatabase loads a MaxMind-format (.mmdb) database and returns a lookup of an
 * address's ISO country code. A file that cannot be read is an error naming the setting.
 */
export function openCountryDatabase(path: string): (ip: string) => string | undefined {
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(readFileSync(path));
  } catch (cause) {
    throw new Error(
      `countryDatabase: cannot read ${path} as a MaxMind database (${String(cause)})`,
    );
  }
  return (ip) => {
    const record = reader.get(ip) as CountryRecord | null;
    return (
      record?.country?.iso_code ?? record?.country_code ?? record?.registered_country?.iso_code
    );
  };
}
