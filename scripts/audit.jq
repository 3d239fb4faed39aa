# The PAN (Luhn) and amount checks of audit-scan, in jq: the peer in make bench.
# Slurps its input (-s): a streaming reduce keeping the totals slows
# quadratically in jq 1.6, which copies its state on nested updates.
def luhn: (explode | map(. - 48) | reverse) as $d
  | ([range(0; $d | length)] | map(if . % 2 == 1 then ($d[.] * 2 | if . > 9 then . - 9 else . end) else $d[.] end) | add) % 10 == 0;
(map(select(.type == "TransactionCreated" and .data.transaction_id) | {key: .data.transaction_id, value: .data.total}) | from_entries) as $t
| .[]
| (select((.type == "PaymentProcessed" or .type == "PaymentRefunded") and .data.transaction_id
          and $t[.data.transaction_id] != null and .data.amount != $t[.data.transaction_id])
   | {finding: "amount_mismatch", seq}),
  (select([.data | .. | scalars | tostring | scan("[0-9](?:[ -]?[0-9]){12,18}") | gsub("[ -]"; "") | select(luhn)] | length > 0)
   | {finding: "pan_unmasked", seq})
