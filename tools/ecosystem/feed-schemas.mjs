// The INPS feed's example against its JSON Schemas (feeds/inps/v1), with a
// JSON Schema 2020-12 validator: the header against header.schema.json, each
// record against the schema of its kind; and records the format refuses
// (an unknown field, an accepted application without the PAD's date, a
// malformed codice fiscale) must fail them. The service reads the same
// example in tests/it/inps_feed.rs.
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const dir = process.argv[2] ?? "feeds/inps/v1";
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const schema = (name) => ajv.compile(JSON.parse(readFileSync(`${dir}/${name}.schema.json`, "utf8")));
const header = schema("header");
const kinds = {
  application: schema("application"),
  status: schema("status"),
  residencyCheck: schema("residencyCheck"),
  disadvantage: schema("disadvantage"),
};

let failures = 0;
const check = (label, validate, value, expected) => {
  const ok = validate(value);
  if (ok !== expected) {
    failures++;
    console.error(`${label}: expected ${expected ? "valid" : "invalid"}`, JSON.stringify(validate.errors));
  }
};

const lines = readFileSync(`${dir}/example.jsonl`, "utf8").split("\n").filter((l) => l.trim());
check("line 1 (header)", header, JSON.parse(lines[0]), true);
lines.slice(1).forEach((l, i) => {
  const rec = JSON.parse(l);
  const validate = kinds[rec.kind];
  if (!validate) {
    failures++;
    console.error(`line ${i + 2}: unknown kind ${rec.kind}`);
    return;
  }
  check(`line ${i + 2}`, validate, rec, true);
});

const app = JSON.parse(lines.find((l) => l.includes('"kind":"application"')));
check("unknown field", kinds.application, { ...app, shoeSize: 44 }, false);
const { padSignedOn, ...noPad } = app;
check("accepted without the PAD", kinds.application, { ...noPad, status: "ACCOLTA" }, false);
const badCf = structuredClone(app);
badCf.household.members[0].fiscalCode = "BNC-GNN85M10D286";
check("malformed codice fiscale", kinds.application, badCf, false);
check("header of another version", header, { ...JSON.parse(lines[0]), version: 2 }, false);
const dis = JSON.parse(lines.find((l) => l.includes('"kind":"disadvantage"')));
check("a category not in the list", kinds.disadvantage, { ...dis, category: "ALTRO" }, false);

if (failures) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log(`feeds/inps/v1: the example's ${lines.length} lines match their schemas; 5 refusals refused`);
