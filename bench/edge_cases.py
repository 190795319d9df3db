"""A small hand-written data set that exercises every settled detail of the e-commerce spec.

    from edge_cases import write_edge_cases
    write_edge_cases(Path("target/bench-data/edge"))

The generated sample data (`host generate-data`) has none of the CSV grammar's hard cases:
malformed quoting, quoted line breaks, CRLF, blank lines, a BOM, Unicode whitespace, all-space
text, keys that only collide after trimming, a duplicate whose first occurrence fails validation,
null dimension keys. `bench/run.py --edge` runs every engine on this set and compares their
outputs, so the comparison pipelines are checked against the host on those rules too.
"""

from __future__ import annotations

from pathlib import Path

ORDERS = [
    "\ufefforder_id,customer_id,product_id,quantity,unit_price,order_date\r\n",  # a BOM, CRLF
    "O1,C1,P1,2,10.00,2023-01-01\r\n",
    "\r\n",  # a blank line
    "O2,C2,P2,1,0.01,2023-01-01\n",
    "O3, C1 ,P1,3,3.35,2023-01-01\n",  # spaces around a key
    "\tO4\u3000,C1,P1,1,1.00,2023-01-02\n",  # a tab and an ideographic space
    "O5,C1,P1, 1,1.00,2023-01-02\n",  # ' 1' is no int64
    "O6,C1,P1,1,1.234,2023-01-02\n",  # three places: never rounded
    "O7,C1,P1,+5,007.50,2023-01-03\n",  # a sign and leading zeros are fine
    "O8,C1,P1,abc,12.3x,2023-02-30\n",  # three bad columns in one message
    "O9,C1,P1,1,1.00\n",  # 5 fields
    "O10,C1,P1,1,1.00,2023-01-01,extra\n",  # 7 fields
    'O11,"C""1",P1,1,1.00,2023-01-01\n',  # a doubled quote; an unknown customer
    'O12,C1,"P1",1,"1,00",2023-01-01\n',  # a quoted comma in a decimal
    'O13,C1,P1,1,1.00,2023-01-01"\n',  # a quote inside an unquoted field
    'O14,"C1"x,P1,1,1.00,2023-01-01\n',  # garbage after a closing quote
    'O15,C2,P1,1,1.00,"2023-01-01"\r\n',
    '"O16","C2","P1","2","2.50","2023-01-05"\n',
    'O17,C2,"P\n1",1,1.00,2023-01-05\n',  # a line break inside a key: two physical lines
    'O18,C2,P2,1,1.00,"2023-01-05\r\n"\n',  # CRLF inside a quoted date
    "O1,C2,P2,5,5.00,2023-01-06\n",  # a duplicate of line 2
    ",C1,P1,1,1.00,2023-01-01\n",  # null order_id
    "O19,,P1,0,0.00,2023-01-01\n",  # three rules at once
    "O20,C1,P1,1001,100000.01,2023-01-01\n",
    "O21,C1,P1,1000,100000.00,2024-12-31\n",  # both bounds, inclusive
    "O22,C1,P1,1,1.00,\n",
    "O23,C1,P1,,1.00,2023-01-01\n",
    "O24,C1,,1,1.00,2023-01-01\n",
    "O25,C1,P1,-1,1.00,2023-01-01\n",
    "O26,C1,P1,0,1.00,2023-01-01\n",  # fails validation: the next O26 is the one kept
    "O26,C1,P1,1,1.00,2023-01-01\n",
    "O26 ,C1,P1,2,1.00,2023-01-02\n",  # a duplicate once trimmed
    "O27,C3,P1,1,1.00,2023-01-01\n",  # C3 has a parse error: an orphan
    "O28,C4,P9,3,0.35,2023-01-07\n",  # unknown product: a null category group
    "O29,C4,P9,1,0.34,2023-01-07\n",  # avg (1.05 + 0.34) / 2 = 0.695 -> 0.70
    "O30,C5,P1,1,1.00,2023-01-08\n",  # C5 is padded in customers.csv
    'O31,"   ",P1,1,1.00,2023-01-08\n',  # an all-space key: not null, trimmed to ""
    "O32,C1,P3,2,12.34,2023-01-09\n",
    "O33,C6,P1,1,1.00,2023-01-09\n",
    "O34,C1,P1,1,1.00,2023-01-0\r9\n",  # a lone CR is data
    "O35,C1,P1,1,1.00,2023-01-09\r\r\n",  # only one CR ends the line
    "O36,C1,P5,1,0.05,2023-01-10\n",
    "O37,C1,P5,1,0.05,2023-01-10\n",
    "O38,C1,P5,1,0.06,2023-01-10\n",  # avg 0.16 / 3 = 0.0533 -> 0.05
    "\n",
    'O39,C1,P1,1,1.00,"2023-01-11\n',  # an unterminated quote runs to the end of the file
    "O40,C1,P1,1,1.00,2023-01-11\n",
]

CUSTOMERS = [
    "customer_id,name,email,region,signup_date\n",
    "C1,Alice,a@x.example,Europe,2020-01-01\n",
    'C2,"Smith, Jane",j@x.example,Asia,2020-02-02\n',
    "C3,Bob,b@x.example,Europe,2020-02-30\n",  # invalid date: quarantined, its orders orphans
    "C4,,c4@x.example,,2020-01-01\n",  # null name and region
    " C5\u00a0,Carl,c5@x.example,Europe,2020-01-01\n",
    'C6,"Jo ""JJ"", Jr",c6@x.example,"",2020-01-01\n',
    "C1,Alice2,a2@x.example,Europe,2020-01-01\n",  # a duplicate of line 2
    ",Nobody,n@x.example,Europe,2020-01-01\n",  # null keys equal each other
    ",Nobody2,n2@x.example,Europe,2020-01-01\n",
    "C7,   ,c7@x.example,Europe,2020-01-01\n",  # all-space name: "" once trimmed
]

PRODUCTS = [
    "product_id,product_name,category,list_price\r\n",
    "P1,Widget,Tools,10.00\r\n",
    'P2,"Gadget, Big",Tools,20.00\r\n',
    'P3,"",Books,5.00\r\n',  # a quoted empty field is null
    "P4,Thing,Toys,N/A\r\n",
    " P1,Widget2,Tools,11.00\r\n",  # a duplicate once trimmed
    "P5,Café,Food,1.00\r\n",
    '"P\n1",Multi,Tools,1.00\r\n',  # the key of O17
]


def write_edge_cases(directory: Path) -> None:
    """Writes orders.csv, customers.csv and products.csv into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in [("orders.csv", ORDERS), ("customers.csv", CUSTOMERS), ("products.csv", PRODUCTS)]:
        (directory / name).write_bytes("".join(lines).encode("utf-8"))
