from fakalab.reference_shop.demo import DEMO_PRODUCTS
from fakalab.simulate.products import PRODUCTS


def test_the_products_are_the_shops_demo_catalog() -> None:
    assert {p.id: (p.priority, p.kind) for p in DEMO_PRODUCTS} == {
        name: (p.priority, p.kind) for name, p in PRODUCTS.items()}
