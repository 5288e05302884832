// agg-tool.js - the npm aws-kinesis-agg (an aggregator and de-aggregator
// independent of kinesisfs, from awslabs) on files, so that tests compare
// kinesisfs's KPL aggregated records with it, both ways.
//
//   node agg-tool.js encode IN.tsv PREFIX   aggregated records of the user
//       records of IN.tsv ("KEY<TAB>EHK or -<TAB>DATA as a JSON string"
//       lines) into PREFIX.1, PREFIX.2, ... (raw bytes); prints
//       "PREFIX.N<TAB>PARTITION-KEY" for each
//   node agg-tool.js decode FILE...       the user records of each file, as
//       the KCL reads them (checksums checked): "N<TAB>KEY<TAB>EHK or -<TAB>
//       DATA as a JSON string" lines, N the sub-sequence number
'use strict';
const fs = require('fs');
const agg = require('aws-kinesis-agg');

function encode(tsv, prefix) {
    const records = fs.readFileSync(tsv, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
        const [key, ehk, data] = l.split('\t');
        const r = { partitionKey: key, data: Buffer.from(JSON.parse(data), 'utf8') };
        if (ehk !== '-') r.explicitHashKey = ehk;
        return r;
    });
    const aggregator = new agg.RecordAggregator();
    let n = 0;
    aggregator.aggregateRecords(records, true, (err, encoded) => {
        if (err) throw err;
        n++;
        fs.writeFileSync(`${prefix}.${n}`, encoded.data);
        process.stdout.write(`${prefix}.${n}\t${encoded.partitionKey}\n`);
    });
}

function decode(files) {
    for (const f of files) {
        const record = { data: fs.readFileSync(f).toString('base64'), partitionKey: 'outer' };
        agg.deaggregateSync(record, true, (err, users) => {
            if (err) throw err;
            for (const u of users) {
                const data = Buffer.from(u.data, 'base64').toString('utf8');
                process.stdout.write(`${u.subSequenceNumber}\t${u.partitionKey}\t` +
                    `${u.explicitPartitionKey || '-'}\t${JSON.stringify(data)}\n`);
            }
        });
    }
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'encode' && args.length === 2) encode(args[0], args[1]);
else if (cmd === 'decode' && args.length >= 1) decode(args);
else {
    process.stderr.write('usage: agg-tool.js encode IN.tsv PREFIX | decode FILE...\n');
    process.exit(2);
}
