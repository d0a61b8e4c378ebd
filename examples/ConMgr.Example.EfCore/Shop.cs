// Shop.cs: the EF Core model of the example: orders, with one context type for writes and one for reads.
using Microsoft.EntityFrameworkCore;

namespace ConMgr.Example.EfCore;

public sealed class Order
{
    public long Id { get; set; }

    /// <summary>The unit of work that wrote it: unique, so a retried unit that committed twice would fail loudly.</summary>
    public int Unit { get; set; }

    public required string Item { get; set; }
}

/// <summary>The model, shared by the two contexts below.</summary>
public abstract class ShopContext(DbContextOptions options) : DbContext(options)
{
    public const string Schema = "create table if not exists cm_efcore_orders (id bigint generated always as identity primary key, unit int not null unique, item text not null)";

    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.Entity<Order>(order =>
        {
            order.ToTable("cm_efcore_orders");
            order.Property(o => o.Id).HasColumnName("id");
            order.Property(o => o.Unit).HasColumnName("unit");
            order.Property(o => o.Item).HasColumnName("item");
        });
}

/// <summary>On the read-write data source: conmgr sends it to the primary.</summary>
public sealed class ShopWriteContext(DbContextOptions<ShopWriteContext> options) : ShopContext(options);

/// <summary>On the prefer-standby data source: conmgr sends it to a standby when there is one.</summary>
public sealed class ShopReadContext(DbContextOptions<ShopReadContext> options) : ShopContext(options);
