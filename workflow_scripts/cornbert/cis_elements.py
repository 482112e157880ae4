"""Known plant promoter elements: the vocabulary of the hand-engineered (`hand_eng`) baseline.

The study built its hand-engineered features from the promoter constituents of Yamamoto et al. 2007 (BMC Genomics
8:67, "Identification of plant promoter constituents by analysis of local distribution of short sequences"). That
paper sorts position-sensitive promoter sequences into three groups, the TATA box, the pyrimidine patch (Y Patch)
and the Regulatory Element Group (REG), and its Table 5 lists the PLACE cis-elements found among the Arabidopsis
REGs. Its full octamer lists are in supplementary files we could not obtain, so this list is:

- `yamamoto2007_table5`: the PLACE elements of Table 5 that we could read (rows 1-11), with their PLACE names;
- `yamamoto2007_core`: the TATA box and Y Patch groups of the same paper, written as consensus patterns;
- `place`: further well-known plant cis-elements from the PLACE database (Higo et al. 1999, Nucleic Acids Res
  27:297), named by their PLACE identifiers, chosen for the tissues of the maize atlas (seed, pollen, root, light,
  hormones);
- `literature`: elements named by the paper that defined them.

Patterns use IUPAC codes. REG-type elements bind transcription factors in either orientation and are searched on
both strands; the core-promoter elements (TATA box, Y Patch) act in one orientation relative to the gene and are
searched on the given strand only (promoters are written 5'->3' toward the gene).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cornbert.fasta import reverse_complement

IUPAC = {
    "A": "A", "C": "C", "G": "G", "T": "T",
    "R": "[AG]", "Y": "[CT]", "S": "[CG]", "W": "[AT]", "K": "[GT]", "M": "[AC]",
    "B": "[CGT]", "D": "[AGT]", "H": "[ACT]", "V": "[ACG]", "N": "[ACGT]",
}  # fmt: skip


@dataclass(frozen=True)
class CisElement:
    name: str
    pattern: str  # IUPAC, 5'->3'
    both_strands: bool
    source: str
    function: str

    def regex(self) -> re.Pattern[str]:
        """Overlapping matches of the pattern (and of its reverse complement where both strands count)."""
        patterns = {self.pattern, reverse_complement(self.pattern)} if self.both_strands else {self.pattern}
        alternatives = "|".join("".join(IUPAC[base] for base in p) for p in sorted(patterns))
        return re.compile(f"(?=({alternatives}))")


T5 = "yamamoto2007_table5"
CORE = "yamamoto2007_core"
PLACE = "place"

ELEMENTS: tuple[CisElement, ...] = (
    # Core promoter groups of Yamamoto et al. 2007 (their Figure 3-4 octamers are TATA-like and C/T-rich).
    CisElement("TATA_box", "TATAWAWR", False, CORE, "TATA box, binds TBP; ~-30 from the TSS in plants"),
    CisElement("Y_patch", "YYCTCTYY", False, CORE, "pyrimidine patch (Y Patch), plant-specific core element"),
    # Yamamoto et al. 2007, Table 5: PLACE elements found in Arabidopsis REGs.
    CisElement("ACGTATERD1", "ACGT", True, T5, "ACGT core, etiolation/dehydration (erd1)"),
    CisElement("ABRELATERD1", "ACGTG", True, T5, "ABRE-like, abscisic acid / dehydration"),
    CisElement("LTRECOREATCOR15", "CCGAC", True, T5, "low-temperature responsive element core (cor15a)"),
    CisElement("SORLIP1AT", "GCCAC", True, T5, "over-represented in light-induced promoters"),
    CisElement("SORLIP2AT", "GGGCC", True, T5, "over-represented in light-induced promoters"),
    CisElement("WBOXATNPR1", "TTGAC", True, T5, "W-box, WRKY binding, salicylic acid"),
    CisElement("CACGTGMOTIF", "CACGTG", True, T5, "G-box, bZIP (GBF) binding, light / ABA"),
    CisElement("MYB2CONSENSUSAT", "YAACKG", True, T5, "MYB recognition site, dehydration (rd22)"),
    CisElement("MYBCORE", "CNGTTR", True, T5, "MYB core"),
    CisElement("SITEIIATCYTC", "TGGGCY", True, T5, "site II, TCP binding, cytochrome c genes"),
    CisElement("ACGTABREMOTIFA2OSEM", "ACGTGKC", True, T5, "ABRE motif A (rice Em)"),
    # Further PLACE elements (Higo et al. 1999).
    CisElement("CAATBOX1", "CAAT", True, PLACE, "CAAT box, NF-Y binding"),
    CisElement("CCAATBOX1", "CCAAT", True, PLACE, "CCAAT box, heat-shock / NF-Y"),
    CisElement("AGCBOXNPGLB", "AGCCGCC", True, PLACE, "GCC box, ERF binding, ethylene / pathogen"),
    CisElement("DRECRTCOREAT", "RCCGAC", True, PLACE, "DRE/CRT core, DREB/CBF binding, drought / cold"),
    CisElement("WBOXNTERF3", "TGACY", True, PLACE, "W-box (TTGACY family), WRKY binding"),
    CisElement("MYCCONSENSUSAT", "CANNTG", True, PLACE, "MYC / bHLH binding (E-box)"),
    CisElement("IBOXCORE", "GATAA", True, PLACE, "I-box core, light regulation"),
    CisElement("GT1CONSENSUS", "GRWAAW", True, PLACE, "GT-1 binding, light regulation"),
    CisElement("DOFCOREZM", "AAAG", True, PLACE, "Dof core (maize Dof1/Dof2)"),
    CisElement("RYREPEATBNNAPA", "CATGCA", True, PLACE, "RY repeat, B3 / seed (embryo) expression"),
    CisElement("PROLAMINBOXOSGLUB1", "TGCAAAG", True, PLACE, "prolamin box, endosperm expression"),
    CisElement("GCN4OSGLUB1", "TGAGTCA", True, PLACE, "GCN4 motif, endosperm expression"),
    CisElement("POLLEN1LELAT52", "AGAAA", True, PLACE, "pollen-specific activation (lat52)"),
    CisElement("GAREAT", "TAACAAR", True, PLACE, "gibberellin-responsive element"),
    CisElement("ROOTMOTIFTAPOX1", "ATATT", True, PLACE, "root-specific expression (rolD)"),
    CisElement("CARGCW8GAT", "CWWWWWWWWG", True, PLACE, "CArG box, MADS-box binding, flower organs"),
    CisElement("ASF1MOTIFCAMV", "TGACG", True, PLACE, "as-1, TGA bZIP binding, auxin / salicylic acid"),
    CisElement("GAGA_repeat", "GAGAGAGA", True, "literature", "GA-rich repeat, BPC/BBR binding (Meister et al. 2004)"),
)
